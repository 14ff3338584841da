/**
 * Analytics pipeline, end to end, against its anchors in the same run:
 *  1. ClickHouse alone, rows prepared before the clock starts, 50k-row blocks: (a) a plain insert of them
 *     into the raw table (ClickHouse's own insert rate); (b) the consumer's write path for them (row text,
 *     raw insert, stage insert feeding the four views) -> events/s. (b) is the ceiling for everything
 *     downstream. (Before 2026-11-26 ~10:10 UTC the anchor was (b) alone in 20k-row blocks, with the
 *     envelope -> row conversion inside the clock: it reads ~40% lower than (b) now.)
 *  2. The bus producer alone: the collector's envelopes (100 events each) sent straight to the bus.
 *  3. End to end: HTTP collector (POST /api/beacons, 100 events per request, load from a child process
 *     with keep-alive connections) -> bus -> analytics consumer -> ClickHouse. With Kafka the collector
 *     runs in a process of its own (BENCH_COLLECTORS, default 1) and this process is the writer, as a
 *     deployment runs them (SERVICES=web, SERVICES=analytics-consumer). Sustained events/s is
 *     events accepted / time until the last one is in ClickHouse. Freshness: a probe play is posted
 *     every 250 ms during the load and the per-minute chart table is polled until it shows it
 *     ("accepted -> visible in charts"), p50/p95.
 *  4. Chart latency over CHART_EVENTS events (default 10M, the issue's figure). They are NOT sent
 *     through the pipeline: ClickHouse generates them itself (INSERT ... SELECT FROM numbers(), 1M rows
 *     per statement) into the raw table and, separately, into the stage table whose views build the
 *     chart tables, so the aggregates are exactly what the consumer would have built from those events.
 *     Plays of 10 events each over 7 days, 20k Zipf-popular tracks, 300k sessions. Windows 1m..30d: the
 *     chart as a cache miss computes it (chartTop: the window's newest snapshot), the exact query computed
 *     live (topTrackIds, what a miss ran before snapshots), each snapshot view's refresh time, a play's
 *     way into the served 5m chart, and GET /api/charts/top as served (SWR cache in front), p50/p99.
 *     The PostgreSQL title lookup is not exercised (generated ids are not catalog ids).
 * Kafka when KAFKA_BROKERS or IT_KAFKA_BROKERS is set, else the in-process bus (printed). chDB always.
 * BENCH_SECONDS (default 15) for the end-to-end load (0: the chart part only), after BENCH_WARMUP_SECONDS (default 4) of unrecorded load; BENCH_CONNECTIONS (default 64); CHART_EVENTS
 * (default 10,000,000; 0 skips the chart part). The load average is printed at each step: other
 * engineers share the 2 cores, so only the ratios to the anchors of the same run compare across runs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { ClickHouseClient } from '@clickhouse/client';
import { loadConfig } from '@platform/config';
import { createLogger } from '@platform/logging';
import { createMetricsRegistry, createServiceHttp } from '@platform/http';
import { createOlapClient, insertRaw } from '@platform/olap';
import { KafkaBus, MemoryBus, type Bus } from '@platform/bus';
import { MemoryCache } from '@platform/cache';
import type { TBeaconEvent } from '@platform/models';
import { CHART_SNAPSHOT_WINDOWS, EVENT_COLUMN_NAMES, RecentIds, analyticsRoutes, chartTop, createAnalyticsConsumer, ensureAnalyticsSchema, envelopeRows, refreshChartSnapshots, rowsBody, toEnvelopes, topTrackIds, writeEventBlock, type EventRow } from '@platform/analytics';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
/** Unrecorded load before the measured runs (Kafka: the writer's group settles). */
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 4);
const CHART_EVENTS = Number(process.env.CHART_EVENTS ?? 10_000_000);
// 64 keep-alive connections: every request waits for Kafka's acks=all (202 = in Kafka), so with few
// connections the collector measures ack round trips, not throughput (24 connections: collector intake
// 16k ev/s vs 37k at 64, same code, same run conditions). A real fleet is thousands of players.
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
// With Kafka, the collector (HTTP -> Kafka) runs in BENCH_COLLECTORS processes of its own (default 1) and
// the writer (consumer -> chDB) in this one, as a deployment runs them (SERVICES=web and
// analytics-consumer): two JavaScript threads instead of one. 0 puts the collector in this process too.
const COLLECTORS = Number(process.env.BENCH_COLLECTORS ?? 1);
const TYPES = ['heartbeat', 'heartbeat', 'heartbeat', 'heartbeat', 'heartbeat', 'play_start', 'first_audio', 'pause', 'ended', 'skip'] as const;

function fakeEvents(n: number, opts: { now: number; spreadMs: number; tracks: number; sessions: number }): TBeaconEvent[] {
  const out: TBeaconEvent[] = [];
  for (let i = 0; i < n; i++) {
    // Zipf-ish popularity: track rank ~ 1/u.
    const rank = Math.min(opts.tracks - 1, Math.floor(1 / Math.max(1e-6, Math.random()) - 1));
    const type = TYPES[i % TYPES.length];
    out.push({
      v: 1,
      eventId: randomUUID(),
      sessionId: `sess${(i * 7919) % opts.sessions}`,
      trackId: `track${rank}`,
      type,
      ts: opts.now - Math.floor(Math.random() * opts.spreadMs),
      positionMs: type === 'play_start' ? 0 : Math.floor(Math.random() * 240_000),
      rendition: { codec: i % 3 === 0 ? 'opus' : 'aac', bitrateKbps: i % 3 === 0 ? 96 : 128 },
      edgeId: `edge-${i % 3}`,
      durationMs: type === 'heartbeat' ? 10_000 : undefined,
      startupMs: type === 'first_audio' ? 150 + (i % 400) : undefined,
    });
  }
  return out;
}

// Anchor blocks: the writer's own cap (maxBatchRows), and ClickHouse's advice for inserts (big blocks).
const ANCHOR_BLOCK = 50_000;
const rowsOf = (events: TBeaconEvent[]): EventRow[] => toEnvelopes(events, Date.now(), null).flatMap((e) => envelopeRows(e));

async function count(olap: ClickHouseClient, where = '1'): Promise<number> {
  const rs = await olap.query({ query: `SELECT count() AS n FROM playback_events WHERE ${where}`, format: 'JSONEachRow' });
  return Number((await rs.json<{ n: string }>())[0].n);
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
};
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const load = () => `load avg ${os.loadavg().map((x) => x.toFixed(1)).join(' / ')}`;

/**
 * CHART_EVENTS events generated by ClickHouse itself, 1M per statement, shaped like listening: plays of
 * 10 events each (play_start, first_audio, 7 heartbeats 10 s apart, then ended, or skip for one play in
 * five), so 10M events are 1M plays; 300k sessions of ~3 plays over 7 days; tracks Zipf-popular among
 * 20k. (Events with a random session each, as a first version had, make every event its own play: ~10x
 * the distinct elements a chart merges, a load no real traffic of that size produces.) The same plays go
 * to the stage table, whose views build the chart aggregates, and to the raw table (for its size).
 */
async function bulkGenerate(olap: ClickHouseClient, total: number): Promise<void> {
  const select = (offset: number, n: number) => `SELECT
      generateUUIDv4(number) AS eventId,
      intDiv(number, 10) AS play,
      number % 10 AS k,
      least(now64(3, 'UTC'), now64(3, 'UTC') - toIntervalMillisecond(intHash64(play) % ${7 * 86400_000}) + toIntervalMillisecond(k * 10000)) AS eventTime,
      eventTime AS receivedAt,
      toInt64(toUnixTimestamp64Milli(eventTime)) AS clientTs,
      concat('bulk-sess', toString(play % 300000)) AS sessionId,
      '' AS userId,
      concat('track', toString(least(19999, toUInt32(floor(1000000 / (sipHash64(play) % 1000000 + 1))) - 1))) AS trackId,
      multiIf(k = 0, 'play_start', k = 1, 'first_audio', k < 9, 'heartbeat', intHash32(play) % 5 = 0, 'skip', 'ended') AS type,
      toUInt32(k * 25000) AS positionMs,
      if(play % 3 = 0, 'opus', 'aac') AS codec,
      toUInt32(if(play % 3 = 0, 96, 128)) AS bitrateKbps,
      if(k = 1, toNullable(toUInt32(150 + play % 400)), NULL) AS startupMs,
      CAST(NULL, 'Nullable(UInt32)') AS bufferMs,
      if(k >= 2, toNullable(toUInt32(10000)), NULL) AS durationMs,
      '' AS errorCode,
      concat('edge-', toString(play % 3)) AS edgeId,
      '' AS cmcd,
      'bulk' AS batchToken
    FROM numbers(${offset}, ${n})`;
  const columns = 'eventId, eventTime, receivedAt, clientTs, sessionId, userId, trackId, type, positionMs, codec, bitrateKbps, startupMs, bufferMs, durationMs, errorCode, edgeId, cmcd, batchToken';
  for (let done = 0; done < total; done += 1_000_000) {
    const n = Math.min(1_000_000, total - done);
    const rows = `SELECT ${columns} FROM (${select(done, n)})`;
    await olap.command({ query: `INSERT INTO playback_events_stage (${columns}) ${rows}` });
    await olap.command({ query: `INSERT INTO playback_events (${columns}) ${rows}` });
  }
}

// Load generator: plain JS in a child process (its own event loop, and its CPU is not counted as the
// pipeline's: the CPU-per-event figures below are this process's, i.e. collector + consumer + chDB).
const LOADGEN = `
const workerData = JSON.parse(process.env.LOADGEN);
const parentPort = { postMessage: (m) => process.stdout.write(JSON.stringify(m)) };
const http = require('node:http');
const { randomBytes } = require('node:crypto');
const { ports, seconds, connections, rate } = workerData;
const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
const types = ['heartbeat','heartbeat','heartbeat','heartbeat','play_start','first_audio','pause','ended','skip','heartbeat'];
let accepted = 0, refused = 0, failed = 0, requests = 0, seq = 0, idSeq = 0;
// Event ids: a random UUIDv4 prefix per process + a counter (unique, valid UUIDs, no crypto call per event);
// the body is written as text. What the server gets is what a player sends: 100 distinct events as JSON.
const prefix = randomBytes(8).toString('hex');
const idHead = prefix.slice(0, 8) + '-' + prefix.slice(8, 12) + '-4' + prefix.slice(12, 15) + '-8' + prefix.slice(1, 4) + '-';
function body() {
  const s = 'loadgen-' + workerData.tag + '-' + (seq++);
  const now = Date.now();
  let out = '{"events":[';
  for (let i = 0; i < 100; i++) {
    const t = types[i % types.length];
    const id = idHead + (0x1000000000000 + idSeq++).toString(16).slice(1);
    out += (i ? ',' : '') + '{"v":1,"eventId":"' + id + '","sessionId":"' + s + '","trackId":"track' + ((seq * 31 + i) % 2000) + '","type":"' + t +
      '","ts":' + now + ',"positionMs":' + (i % 25) * 10000 + ',"rendition":{"codec":"aac","bitrateKbps":128},"edgeId":"edge-' + (i % 3) + '"' +
      (t === 'heartbeat' ? ',"durationMs":10000' : '') + (t === 'first_audio' ? ',"startupMs":' + (200 + i) : '') + '}';
  }
  return out + ']}';
}
const end = Date.now() + seconds * 1000;
function one(port) {
  return new Promise((resolve) => {
    const b = body();
    const req = http.request({ host: '127.0.0.1', port, path: '/api/beacons', method: 'POST', agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(b) } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => {
        requests++;
        if (res.statusCode === 202) accepted += JSON.parse(text).accepted; else if (res.statusCode === 503) refused++; else failed++;
        resolve();
      });
    });
    req.on('error', () => { failed++; resolve(); });
    req.end(b);
  });
}
// rate: events/s to offer (0 = as fast as the server answers); requests carry 100 events.
const start = Date.now();
let scheduled = 0;
async function loop(c) {
  const port = ports[c % ports.length];
  while (Date.now() < end) {
    if (rate > 0) {
      const due = start + (scheduled++ * 100 * 1000) / rate;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (Date.now() >= end) break;
    }
    await one(port);
  }
}
Promise.all(Array.from({ length: connections }, (_, c) => loop(c))).then(() => {
  agent.destroy();
  const cpu = process.cpuUsage();
  parentPort.postMessage({ accepted, refused, failed, requests, cpuMs: (cpu.user + cpu.system) / 1000 });
});
`;

/** CPU time (ms) of the Kafka broker process serving KAFKA_BROKERS' first address on this machine, or null. */
let brokerPid: number | null | undefined;
function brokerCpuMs(): number | null {
  if (brokerPid === undefined) {
    brokerPid = null;
    const port = (process.env.KAFKA_BROKERS ?? process.env.IT_KAFKA_BROKERS ?? '').split(',')[0]?.split(':')[1];
    try {
      if (port) brokerPid = Number(/pid=(\d+)/.exec(execFileSync('ss', ['-ltnpH', `sport = :${port}`], { encoding: 'utf8' }))?.[1]) || null;
    } catch {
      brokerPid = null;
    }
  }
  if (!brokerPid) return null;
  try {
    const f = readFileSync(`/proc/${brokerPid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime + stime, in clock ticks of 1/100 s
  } catch {
    return null;
  }
}

/** A collector process: POST /api/beacons -> Kafka, nothing else (no ClickHouse). Driven over IPC. */
async function collectorChild(): Promise<void> {
  const brokers = (process.env.KAFKA_BROKERS ?? process.env.IT_KAFKA_BROKERS ?? '').split(',').filter(Boolean);
  const config = loadConfig({ LOG_LEVEL: 'warn' });
  const logger = createLogger({ name: 'analytics-bench-collector', level: 'warn' });
  const metrics = createMetricsRegistry('analytics-bench-collector');
  const bus = new KafkaBus({ brokers, defaultPartitions: 6, clientId: 'analytics-bench-collector' }, logger);
  const { app } = createServiceHttp({ name: 'analytics-bench-collector', logger, registry: metrics, fastify: { disableRequestLogging: true } });
  app.decorateRequest('user', null);
  // No ClickHouse here: the beacon route never touches it, and the schema is the writer's business.
  await app.register(analyticsRoutes({ config, logger, metrics, sql: null as never, olap: null as never, bus, cache: new MemoryCache({}) }, {
    topic: process.env.BENCH_TOPIC!, sessionRequestsPerMinute: 1e9, maxBufferedEvents: 200_000, migrate: false,
  }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  process.on('message', (m: string) => {
    if (m === 'cpu') {
      const c = process.cpuUsage();
      process.send!({ cpuMs: (c.user + c.system) / 1000 });
    } else if (m === 'close') {
      void app.close().then(() => bus.close()).then(() => process.exit(0));
    }
  });
  process.send!({ port: (app.server.address() as AddressInfo).port });
}

function startCollector(topic: string): Promise<{ port: number; cpuMs: () => Promise<number>; close: () => Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', process.argv[1]], {
    env: { ...process.env, ANALYTICS_BENCH_ROLE: 'collector', BENCH_TOPIC: topic },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ask = <T>(msg: string) =>
    new Promise<T>((resolve) => {
      child.once('message', (m) => resolve(m as T));
      child.send(msg);
    });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`collector exited ${code}`)));
    child.once('message', (m: { port: number }) =>
      resolve({
        port: m.port,
        cpuMs: async () => (await ask<{ cpuMs: number }>('cpu')).cpuMs,
        close: () => new Promise<void>((done) => {
          child.removeAllListeners('exit');
          child.once('exit', () => done());
          child.send('close');
        }),
      }),
    );
  });
}

async function main(): Promise<void> {
  const brokers = (process.env.KAFKA_BROKERS ?? process.env.IT_KAFKA_BROKERS ?? '').split(',').filter(Boolean);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'analytics-bench-'));
  const config = loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
  const logger = createLogger({ name: 'analytics-bench', level: 'warn' });
  const metrics = createMetricsRegistry('analytics-bench');
  const olap = await createOlapClient(config, logger);
  const bus: Bus = brokers.length ? new KafkaBus({ brokers, defaultPartitions: 6, clientId: 'analytics-bench' }, logger) : new MemoryBus(logger, 6);
  const cache = new MemoryCache({});
  const suffix = Date.now().toString(36);
  const topic = `playback.events.bench.${suffix}`;
  console.log(`${new Date().toISOString()}; ${load()}`);
  console.log(`bus: ${bus.kind}${brokers.length ? ` (${brokers.join(',')})` : ' (in-process; set KAFKA_BROKERS for Kafka)'}; ClickHouse: chDB; ${os.cpus().length} cores; load ${SECONDS}s x ${CONNECTIONS} connections x 100 events/request`);
  await ensureAnalyticsSchema(olap);
  await bus.ensureTopic(topic, { partitions: 6 });

  try {
    const { app } = createServiceHttp({ name: 'analytics-bench', logger, registry: metrics, fastify: { disableRequestLogging: true } });
    app.decorateRequest('user', null);
    await app.register(analyticsRoutes({ config, logger, metrics, sql: null as never, olap, bus, cache }, { topic, sessionRequestsPerMinute: 1e9, maxBufferedEvents: 200_000, migrate: false }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as AddressInfo).port;
    let t0 = performance.now();
    // BENCH_SECONDS=0 runs the chart part only.
    if (SECONDS > 0) {
      // 1. ClickHouse alone, two ways, rows prepared before the clock starts: (a) a plain insert of the
      // rows into the raw table (JSONCompactEachRow, 50k-row blocks): ClickHouse's own insert rate;
      // (b) the consumer's whole write path for them (row text, raw insert, then the stage insert whose
      // four views build the aggregates; same blocks): the ceiling for everything downstream.
      // The anchors' rows and messages live in this function only: kept in scope through the end-to-end run
      // (they were, until 2026-11-26 15:15), ~400 MB of them stayed on the writer's heap, and V8 marked them
      // all every ~1.2 s (incremental marking ~200-400 ms each time: most of the writer thread's "GC").
      const { plainRate, chRate, prodRate } = await (async () => {
        const plainRows = rowsOf(fakeEvents(300_000, { now: Date.now(), spreadMs: 3600_000, tracks: 2000, sessions: 20_000 }));
        const plainBodies: Buffer[] = [];
        for (let i = 0; i < plainRows.length; i += ANCHOR_BLOCK) plainBodies.push(rowsBody(plainRows.slice(i, i + ANCHOR_BLOCK), 'anchor'));
        t0 = performance.now();
        for (const body of plainBodies) await insertRaw(olap, { table: 'playback_events', columns: [...EVENT_COLUMN_NAMES], format: 'JSONCompactEachRow', body });
        const plainRate = plainRows.length / ((performance.now() - t0) / 1000);
        console.log(`ClickHouse alone, plain insert into the raw table (JSONCompactEachRow, 50k-row blocks): ${fmt(plainRate)} events/s; ${load()}`);
        const pathRows = rowsOf(fakeEvents(300_000, { now: Date.now(), spreadMs: 3600_000, tracks: 2000, sessions: 20_000 }));
        t0 = performance.now();
        for (let i = 0; i < pathRows.length; i += ANCHOR_BLOCK) await writeEventBlock(olap, pathRows.slice(i, i + ANCHOR_BLOCK), randomUUID());
        const chRate = pathRows.length / ((performance.now() - t0) / 1000);
        console.log(`ClickHouse alone, the consumer's write path (raw + stage/views, 50k-row blocks): ${fmt(chRate)} events/s; ${load()}`);

        // 2. Producer alone.
        const prodEvents = fakeEvents(200_000, { now: Date.now(), spreadMs: 60_000, tracks: 2000, sessions: 2000 });
        const msgs: Array<{ key: string; value: string }> = [];
        for (let i = 0; i < prodEvents.length; i += 100) {
          const sid = `prod${i}`;
          const env = toEnvelopes(prodEvents.slice(i, i + 100).map((e) => ({ ...e, sessionId: sid })), Date.now(), null)[0];
          msgs.push({ key: env.sessionId, value: JSON.stringify(env) });
        }
        const prodTopic = `${topic}.producer`;
        await bus.ensureTopic(prodTopic, { partitions: 6 });
        t0 = performance.now();
        // Same shape as the collector: up to 500 messages per send, several sends in flight.
        const chunks: Array<typeof msgs> = [];
        for (let i = 0; i < msgs.length; i += 50) chunks.push(msgs.slice(i, i + 50));
        let next = 0;
        await Promise.all(Array.from({ length: 8 }, async () => {
          while (next < chunks.length) await bus.send(prodTopic, chunks[next++]);
        }));
        const prodRate = prodEvents.length / ((performance.now() - t0) / 1000);
        console.log(`bus producer alone (envelopes of 100 events, 50 per send, 8 in flight): ${fmt(prodRate)} events/s`);
        return { plainRate, chRate, prodRate };
      })();

      // 3. End to end: first as fast as it goes (throughput), then at half that rate (freshness when not saturated).
      const consumer = await createAnalyticsConsumer({ olap, bus, logger, metrics, config }, { topic, groupId: `analytics-writer-bench-${suffix}` });
      const collectors = brokers.length && COLLECTORS > 0 ? await Promise.all(Array.from({ length: COLLECTORS }, () => startCollector(topic))) : [];
      const ports = collectors.length ? collectors.map((c) => c.port) : [port];
      const collectorsCpuMs = async () => (await Promise.all(collectors.map((c) => c.cpuMs()))).reduce((a, b) => a + b, 0);
      console.log(
        collectors.length
          ? `layout: ${collectors.length} collector process(es) (HTTP -> Kafka) + this process as the writer (consumer -> chDB)`
          : 'layout: collector and writer in this one process',
      );

      const run = async (tag: string, rate: number, loadSeconds = SECONDS) => {
        const base = await count(olap);
        const loadStart = performance.now();
        const cpu0 = process.cpuUsage();
        const collectors0 = await collectorsCpuMs();
        const broker0 = brokerCpuMs();
        const child = spawn(process.execPath, ['-e', LOADGEN], {
          env: { ...process.env, LOADGEN: JSON.stringify({ ports, seconds: loadSeconds, connections: CONNECTIONS, rate, tag }) },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let out = '';
        child.stdout.on('data', (c) => (out += c));
        const loadDone = new Promise<{ accepted: number; refused: number; failed: number; requests: number; cpuMs: number }>((resolve, reject) => {
          child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`load generator exited ${code}`))));
          child.once('error', reject);
        });
        // Freshness probes while the load runs: a play posted, then the chart table polled until it shows.
        const fresh: number[] = [];
        let probing = true;
        const probes = (async () => {
          let i = 0;
          while (probing) {
            const track = `probe-${suffix}-${tag}-${i++}`;
            const ev: TBeaconEvent = { v: 1, eventId: randomUUID(), sessionId: `probe-${suffix}-${tag}-${i}`, trackId: track, type: 'ended', ts: Date.now(), positionMs: 200_000 };
            const res = await fetch(`http://127.0.0.1:${ports[i % ports.length]}/api/beacons`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ events: [ev] }) });
            if (res.status !== 202) continue;
            const accepted = performance.now();
            for (;;) {
              const rs = await olap.query({ query: `SELECT count() AS n FROM track_plays_1m WHERE trackId = '${track}'`, format: 'JSONEachRow' });
              if (Number((await rs.json<{ n: string }>())[0].n) > 0) break;
              await new Promise((r) => setTimeout(r, 20));
            }
            fresh.push(performance.now() - accepted);
            await new Promise((r) => setTimeout(r, 250));
          }
        })();
        const load = await loadDone;
        probing = false;
        await probes;
        const target = base + load.accepted + fresh.length;
        while ((await count(olap)) < target) await new Promise((r) => setTimeout(r, 50));
        const seconds = (performance.now() - loadStart) / 1000;
        const cpu = process.cpuUsage(cpu0);
        const collectorsMs = (await collectorsCpuMs()) - collectors0;
        const broker = broker0 === null ? null : (brokerCpuMs() ?? broker0) - broker0;
        const events = load.accepted + fresh.length;
        const selfUs = cpu.user + cpu.system;
        return {
          ...load,
          seconds,
          rate: load.accepted / seconds,
          collectorRate: load.accepted / loadSeconds,
          fresh,
          // CPU time per event: the pipeline's processes (collector processes + this one: consumer, chDB,
          // all threads; or everything, when the collector runs here), the Kafka broker, the load generator.
          cpuUsPerEvent: (selfUs + collectorsMs * 1000) / events,
          collectorUsPerEvent: collectors.length ? (collectorsMs * 1000) / events : null,
          writerUsPerEvent: collectors.length ? selfUs / events : null,
          brokerUsPerEvent: broker === null ? null : (broker * 1000) / events,
          loadgenUsPerEvent: (load.cpuMs * 1000) / events,
        };
      };

      // Steady state before the clock: the writer's group members have joined and been assigned (the second
      // member's join rebalances the first), producers are connected, the JIT is warm. Not recorded.
      const warm = await run('warmup', 0, WARMUP_SECONDS);
      console.log(`warm-up (not recorded): ${fmt(warm.rate)} events/s over ${WARMUP_SECONDS} s of load`);
      const max = await run('max', 0);
      console.log(
        `end to end, max (HTTP -> ${bus.kind} bus -> consumer -> ClickHouse): ${fmt(max.rate)} events/s sustained ` +
          `(${fmt(max.accepted)} events, ${max.seconds.toFixed(1)} s until all stored; the collector took ${fmt(max.collectorRate)} events/s; ` +
          `${max.requests} requests, ${max.refused} x 503, ${max.failed} other non-202)`,
      );
      console.log(
        `  ratio e2e / ClickHouse write path alone: ${(max.rate / chRate).toFixed(2)}; e2e / ClickHouse plain insert: ${(max.rate / plainRate).toFixed(2)}; ` +
          `e2e / producer alone: ${(max.rate / prodRate).toFixed(3)}`,
      );
      const perEvent = max.cpuUsPerEvent + (max.brokerUsPerEvent ?? 0);
      console.log(
        `  CPU per event: ${max.cpuUsPerEvent.toFixed(1)} us in the pipeline's processes` +
          (max.collectorUsPerEvent === null
            ? ' (collector + consumer + chDB in one process, all threads)'
            : ` (collector ${max.collectorUsPerEvent.toFixed(1)} + writer ${max.writerUsPerEvent!.toFixed(1)}: consumer + chDB, all threads)`) +
          (max.brokerUsPerEvent === null ? '' : ` + ${max.brokerUsPerEvent.toFixed(1)} us in the Kafka broker`) +
          ` -> ${fmt(2e6 / perEvent)} events/s if two cores were ours alone (an estimate: CPU time, not measured throughput; load generator excluded)`,
      );
      console.log(
        `  load generator: ${max.loadgenUsPerEvent.toFixed(1)} us of CPU per event (same cores; with it, two cores would carry ` +
          `${fmt(2e6 / (perEvent + max.loadgenUsPerEvent))} events/s)`,
      );
      console.log(`  freshness while saturated: p50 ${fmt(pct(max.fresh, 50))} ms, p95 ${fmt(pct(max.fresh, 95))} ms (${max.fresh.length} probes; a backlog builds when offered > sustained)`);
      const half = await run('half', Math.round(max.rate / 2));
      console.log(
        `end to end at half that rate (${fmt(Math.round(max.rate / 2))} events/s offered): ${fmt(half.rate)} events/s stored; ` +
          `freshness (accepted -> visible in the chart table) p50 ${fmt(pct(half.fresh, 50))} ms, p95 ${fmt(pct(half.fresh, 95))} ms over ${half.fresh.length} probes (goal p95 < 2000 ms)`,
      );
      console.log(`  consumer: ${JSON.stringify(consumer.stats)} (past its 500k recent-id memory: ${consumer.stats.inserted > 500_000 ? 'yes' : 'no'}); ${load()}`);
      await Promise.all(collectors.map((c) => c.close()));
      await consumer.stop();
    }

    // The consumer's recent-id memory past its bound (500k ids), against the Set that evicted its first
    // entry (the memory-bus slowdown of an earlier build): per-id cost once the bound is reached.
    {
      const ids = Array.from({ length: 600_000 }, () => randomUUID());
      const recent = new RecentIds(500_000);
      for (let i = 0; i < 500_000; i++) recent.add(ids[i]);
      let t = performance.now();
      for (let i = 500_000; i < 600_000; i++) recent.add(ids[i]);
      const perIdNow = ((performance.now() - t) * 1000) / 100_000;
      // The old way gets slower as holes pile up at the table's front (until V8 rehashes): capped at 5 s.
      const old = new Set<string>(ids.slice(0, 500_000));
      t = performance.now();
      let n = 0;
      for (let i = 500_000; i < 600_000 && performance.now() - t < 5000; i++, n++) {
        old.add(ids[i]);
        old.delete(old.values().next().value!);
      }
      const perIdOld = ((performance.now() - t) * 1000) / n;
      console.log(
        `consumer recent-id memory at its 500k bound: ${perIdNow.toFixed(2)} us per id (100k ids); ` +
          `a Set evicting its first entry: ${fmt(perIdOld)} us per id over its first ${fmt(n)} evictions (${fmt(perIdOld / perIdNow)}x)`,
      );
    }

    // 4. Chart queries over many events (CHART_EVENTS=0 skips them: throughput work only).
    if (CHART_EVENTS <= 0) {
      await app.close();
      return;
    }
    const have = await count(olap);
    const toLoad = Math.max(0, CHART_EVENTS - have);
    t0 = performance.now();
    await bulkGenerate(olap, toLoad);
    await olap.command({ query: 'OPTIMIZE TABLE track_plays_1h FINAL' }).catch(() => undefined);
    const total = await count(olap);
    const chartRows = await (await olap.query({ query: `SELECT (SELECT count() FROM track_plays_1m) AS m, (SELECT count() FROM track_plays_1h) AS h`, format: 'JSONEachRow' })).json<{ m: string; h: string }>();
    console.log(
      `chart data: ${fmt(total)} events in the store (${fmt(toLoad)} generated by ClickHouse itself, not through the pipeline, in ` +
        `${((performance.now() - t0) / 1000).toFixed(1)} s, as 1/10 as many plays of 10 events, over 7 days, 20k tracks, 300k sessions; chart tables ${fmt(Number(chartRows[0].m))} minute rows, ` +
        `${fmt(Number(chartRows[0].h))} hour rows); ${load()}`,
    );
    // Every window is served from the snapshot a refreshable view computes (schema.ts): recompute them
    // now over the loaded data, and report what one refresh of each costs (it runs every period).
    t0 = performance.now();
    await refreshChartSnapshots(olap);
    const refreshes = await (await olap.query({
      query: `SELECT view, last_success_duration_ms AS ms, read_rows FROM system.view_refreshes WHERE view LIKE 'chart_top_%' ORDER BY view`,
      format: 'JSONEachRow',
    })).json<{ view: string; ms: string; read_rows: string }>();
    const refreshMs = new Map(refreshes.map((r) => [r.view.replace(/^chart_top_|_mv$/g, ''), Number(r.ms)]));
    const periods = new Map(Object.entries(CHART_SNAPSHOT_WINDOWS).map(([w, p]) => [refreshMs.has(w) ? w : 'short', p]));
    const shortWindows = Object.keys(CHART_SNAPSHOT_WINDOWS).filter((w) => !refreshMs.has(w)).join('+');
    console.log(
      `chart snapshots refreshed in ${((performance.now() - t0) / 1000).toFixed(2)} s; one refresh (every period): ` +
        [...periods].map(([v, p]) => `${v === 'short' ? shortWindows : v} ${refreshMs.get(v) ?? '?'} ms/${p} s`).join(', ') + `; ${load()}`,
    );
    // Freshness of the served chart: plays written (the consumer's write path), then the 5m chart as a
    // cache miss computes it polled every 20 ms until it shows them. A probe track gets 500 plays (one
    // `ended` event each, distinct sessions) so it ranks in the top 210 even after the end-to-end run has
    // filled the window with busier tracks (with one play it stayed below the cut until that data left the
    // window, ~5 min). A random pause before each probe (the snapshot refreshes on whole seconds: probes
    // started right after one would all wait ~1 s).
    const fresh: number[] = [];
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, Math.random() * 1000));
      const track = `fresh-probe-${i}`;
      const probe = fakeEvents(500, { now: Date.now(), spreadMs: 1, tracks: 1, sessions: 500 }).map((e) => ({ ...e, trackId: track, type: 'ended' as const, positionMs: 40_000 }));
      const t = performance.now();
      await writeEventBlock(olap, rowsOf(probe), randomUUID());
      while (!(await chartTop(olap, '5m', 210)).tracks.some((x) => x.trackId === track && x.plays === 500)) await new Promise((r) => setTimeout(r, 20));
      fresh.push(performance.now() - t);
    }
    console.log(`chart freshness (written to ClickHouse -> in the 5m chart as served): p50 ${fmt(pct(fresh, 50))} ms, max ${fmt(Math.max(...fresh))} ms over ${fresh.length} probes; ${load()}`);
    // Per window: (a) the chart as the route computes it on a cache miss (chartTop: the window's newest
    // snapshot; the issue's "chart query"); (b) the exact query computed live (what a cache miss ran
    // before snapshots, and what a missing or overdue snapshot falls back to); (c) GET /api/charts/top as
    // served (cache in front).
    // The engine's floor in the same run: a chDB round trip that reads nothing (SELECT 1).
    const floor: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t = performance.now();
      await (await olap.query({ query: 'SELECT 1', format: 'JSONEachRow' })).json();
      floor.push(performance.now() - t);
    }
    console.log(`chDB round trip (SELECT 1), the floor of any chart query: p50 ${pct(floor, 50).toFixed(1)} ms, p99 ${pct(floor, 99).toFixed(1)} ms; ${load()}`);
    for (const w of ['1m', '5m', '15m', '30m', '1h', '3h', '24h', '7d', '30d']) {
      const served: number[] = [];
      let source = '';
      for (let i = 0; i < 200; i++) {
        const t = performance.now();
        source = (await chartTop(olap, w, 210)).source;
        served.push(performance.now() - t);
      }
      const lat: number[] = [];
      for (let i = 0; i < 60; i++) {
        const t = performance.now();
        await topTrackIds(olap, w, 210);
        lat.push(performance.now() - t);
      }
      // The endpoint as served: stale-while-revalidate cache in front of the same query (titles need
      // PostgreSQL; these generated ids are not catalog ids, so the title lookup is skipped here).
      const http: number[] = [];
      for (let i = 0; i < 300; i++) {
        const t = performance.now();
        const res = await fetch(`http://127.0.0.1:${port}/api/charts/top?window=${w}&limit=50`);
        await res.arrayBuffer();
        http.push(performance.now() - t);
      }
      console.log(
        `chart top(${w}, 210): on a cache miss (${source}) p50 ${pct(served, 50).toFixed(1)} ms, p99 ${pct(served, 99).toFixed(1)} ms (goal p99 < 50 ms)` +
          `; exact query live p50 ${pct(lat, 50).toFixed(1)} ms, p99 ${pct(lat, 99).toFixed(1)} ms` +
          `; GET /api/charts/top (cached, SWR) p50 ${pct(http, 50).toFixed(1)} ms, p99 ${pct(http, 99).toFixed(1)} ms; ${load()}`,
      );
    }
    await app.close();
  } finally {
    await bus.close().catch(() => undefined);
    await olap.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

(process.env.ANALYTICS_BENCH_ROLE === 'collector' ? collectorChild() : main()).catch((e) => {
  console.error(e);
  process.exit(1);
});
