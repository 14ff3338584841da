/* eslint-disable @typescript-eslint/no-explicit-any -- response bodies are checked field by field */
/**
 * Recommendations end to end on the embedded defaults: embedded PostgreSQL (catalog schema), chDB
 * (analytics schema fed by the real beacon route and consumer over the in-process bus), filesystem
 * object storage and the in-process cache. Listeners like and play tracks in two taste clusters;
 * the training job publishes a model version; the two endpoints answer from it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '@platform/config';
import { createLogger } from '@platform/logging';
import { createMetricsRegistry, createServiceHttp } from '@platform/http';
import { createSqlDatabase, runMigrations, type SqlDatabase } from '@platform/sql';
import { createOlapClient } from '@platform/olap';
import { createObjectStore } from '@platform/storage';
import { MemoryCache } from '@platform/cache';
import { MemoryBus } from '@platform/bus';
import { authPlugin, catalogMigrations, catalogRoutes, createTrack, markTrackReady } from '@platform/catalog';
import { analyticsRoutes, createAnalyticsConsumer, type AnalyticsConsumer } from '@platform/analytics';
import type { PlatformDeps } from '@platform/runtime';
import type { FastifyInstance } from 'fastify';
import { Writable } from 'node:stream';
import type { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import { recommenderRoutes, runTrainingJob, readLatestPointer, RecsService, startTrainingSchedule } from '../src/index';

class Client {
  cookies = new Map<string, string>();
  me: any = null;
  constructor(readonly base: string) {}
  async req(method: string, url: string, body?: unknown): Promise<{ status: number; body: any }> {
    const h: Record<string, string> = {};
    if (body !== undefined) h['content-type'] = 'application/json';
    if (this.cookies.size) h.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (this.cookies.has('csrf') && method !== 'GET') h['x-csrf-token'] = this.cookies.get('csrf')!;
    const res = await fetch(this.base + url, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      this.cookies.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
    }
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  }
  get = (url: string) => this.req('GET', url);
  async signup(role: 'listener' | 'musician', displayName: string): Promise<this> {
    const r = await this.req('POST', '/api/auth/signup', { email: `${role}-${randomBytes(5).toString('hex')}@example.test`, password: 'correct horse battery', displayName, role });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    this.me = r.body;
    return this;
  }
}

describe('recommendations API on embedded defaults', () => {
  let dataDir: string;
  let sqlDb: SqlDatabase;
  let deps: PlatformDeps;
  let app: FastifyInstance;
  let base: string;
  let consumer: AnalyticsConsumer;
  let service: RecsService;
  const topic = `playback.events.recs-test.${randomBytes(3).toString('hex')}`;
  const tracks: Record<string, { id: string; artist: string; cluster: 'rock' | 'jazz' }> = {};
  const trackId = (title: string) => tracks[title].id;

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'recs-serving-'));
    const config = loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent', RECS_CACHE_TTL: '10m' });
    const logger = createLogger({ name: 'recs-test', level: (process.env.TEST_LOG_LEVEL as 'silent') ?? 'silent' });
    const metrics = createMetricsRegistry('recs-test');
    sqlDb = await createSqlDatabase(config, logger, { database: 'recs' });
    await runMigrations(sqlDb.db, catalogMigrations);
    const olap = await createOlapClient(config, logger, { embeddedPath: path.join(dataDir, 'clickhouse') });
    const objects = await createObjectStore(config);
    const bus = new MemoryBus(logger, 2);
    await bus.ensureTopic(topic, { partitions: 2 });
    deps = { config, logger, metrics, sql: sqlDb.db, olap, objects, bus, cache: new MemoryCache({}) } as PlatformDeps;
    service = new RecsService(deps, { reloadIntervalMs: 0 });
    ({ app } = createServiceHttp({ name: 'recs-test', logger, registry: metrics }));
    await app.register(authPlugin(deps, { signupLimit: { perIp: 1000, windowMs: 60_000 } }));
    await app.register(catalogRoutes(deps));
    await app.register(analyticsRoutes(deps, { topic }));
    await app.register(recommenderRoutes(deps, { service }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    consumer = await createAnalyticsConsumer(deps, { topic, lingerMs: 20 });

    // Two taste clusters, two artists each, five tracks per artist.
    for (const [cluster, artists] of [['rock', ['Rock A', 'Rock B']], ['jazz', ['Jazz A', 'Jazz B']]] as const) {
      for (const artist of artists) {
        const m = await new Client(base).signup('musician', artist);
        for (let k = 1; k <= 5; k++) {
          const title = `${artist} ${k}`;
          const { id, version } = await createTrack(deps.sql, { artistId: m.me.artistId, title, genre: cluster });
          await markTrackReady(deps.sql, { trackId: id, version, durationMs: 180_000, loudness: { integratedLufs: -14, truePeakDb: -1, gainDb: 0 }, renditions: [{ codec: 'aac', bitrateKbps: 128, container: 'fmp4' }] });
          tracks[title] = { id, artist, cluster };
        }
      }
    }
  });

  after(async () => {
    await consumer?.stop();
    await app?.close();
    await deps?.olap.close();
    await sqlDb?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  const like = (c: Client, title: string) => c.req('PUT', `/api/tracks/${trackId(title)}/like`);
  const played = new Set<string>();
  const play = async (c: Client, title: string) => {
    played.add(title);
    const sessionId = randomUUID();
    const ev = (type: string, positionMs: number) => ({ v: 1, eventId: randomUUID(), sessionId, trackId: trackId(title), type, ts: Date.now(), positionMs });
    const r = await c.req('POST', '/api/beacons', { events: [ev('play_start', 0), ev('heartbeat', 31_000), ev('ended', 180_000)] });
    assert.equal(r.status, 202, JSON.stringify(r.body));
  };
  const titlesOf = (r: { body: any }) => r.body.tracks.map((t: any) => t.title as string);

  let fan: Client;
  let newcomer: Client;

  it('trains on likes and plays and serves personal picks from the listener\'s cluster, with reasons', async () => {
    // Ten listeners per cluster, each liking three tracks and playing two more of their cluster.
    const pick = (cluster: 'rock' | 'jazz', n: number, offset: number) =>
      Object.keys(tracks).filter((t) => tracks[t].cluster === cluster).filter((_, i) => (i + offset) % 10 < n);
    for (const cluster of ['rock', 'jazz'] as const) {
      for (let u = 0; u < 10; u++) {
        const c = await new Client(base).signup('listener', `${cluster} fan ${u}`);
        const titles = pick(cluster, 5, u);
        for (const t of titles.slice(0, 3)) assert.equal((await like(c, t)).status, 204);
        for (const t of titles.slice(3)) await play(c, t);
      }
    }
    fan = await new Client(base).signup('listener', 'The rock fan');
    await like(fan, 'Rock A 1');
    await like(fan, 'Rock B 1');
    await play(fan, 'Rock A 2'); // just played: must not be recommended right back
    newcomer = await new Client(base).signup('listener', 'Newcomer');
    // Wait for the consumer to land the plays in ClickHouse.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const r = await deps.olap.query({ query: 'SELECT count() AS n FROM plays', format: 'JSONEachRow' });
      const [{ n }] = await r.json<{ n: string }>();
      if (Number(n) >= 41) break;
      assert.ok(Date.now() < deadline, `plays in ClickHouse: ${n} of 41`);
      await new Promise((res) => setTimeout(res, 100));
    }

    const result = await runTrainingJob(deps);
    assert.equal(result.signals.likes, 62);
    assert.equal(result.signals.plays, 41);
    assert.equal(result.signals.completions, 41);
    assert.equal(result.counts.tracks, 20);
    const latest = await readLatestPointer(deps.objects);
    assert.equal(latest?.version, result.version);

    const r = await fan.get('/api/recommendations?limit=10');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const list = r.body.tracks as any[];
    assert.equal(list.length, 10);
    for (const t of list) {
      // The contract's fields plus what a player's track row shows (duration, cover or not, album).
      assert.deepEqual(Object.keys(t).sort(), ['album', 'artist', 'durationMs', 'hasCover', 'id', 'reason', 'score', 'title']);
      assert.equal(t.durationMs, 180_000);
      assert.equal(t.hasCover, false);
      assert.equal(typeof t.score, 'number');
      assert.ok(t.reason.length > 0);
    }
    // Top five are rock (the fan's cluster), none already liked or just played.
    for (const t of list.slice(0, 5)) assert.equal(tracks[t.title].cluster, 'rock', `${t.title} in ${titlesOf(r)}`);
    for (const t of ['Rock A 1', 'Rock B 1', 'Rock A 2']) assert.ok(!titlesOf(r).includes(t), `${t} should be filtered`);
    assert.match(list[0].reason, /^Because you (played|liked) Rock [AB] [12]$/);
    // Diversity: never three in a row by the same artist.
    for (let k = 2; k < list.length; k++) assert.ok(!(list[k].artist === list[k - 1].artist && list[k].artist === list[k - 2].artist), titlesOf(r).join(', '));
  });

  it('serves the second request from the per-user cache', async () => {
    const metric = async () => (await deps.metrics.getSingleMetric('recs_requests_total')!.get()).values.find((v) => v.labels.endpoint === 'recommendations' && v.labels.cache === 'hit')?.value ?? 0;
    const before = await metric();
    const a = await fan.get('/api/recommendations?limit=10');
    const b = await fan.get('/api/recommendations?limit=3');
    assert.deepEqual(titlesOf(b), titlesOf(a).slice(0, 3));
    assert.equal((await metric()) - before, 2);
  });

  it('a listener with no history gets hot now, then the rest of the catalog', async () => {
    const r = await newcomer.get('/api/recommendations?limit=20');
    assert.equal(r.status, 200);
    assert.equal(r.body.tracks.length, 20);
    const reasons = new Set(r.body.tracks.map((t: any) => t.reason));
    assert.ok([...reasons].some((x) => /right now/.test(String(x))), [...reasons].join(', '));
    // Hot now is made of tracks that were actually played in the last hour.
    const hot = r.body.tracks.filter((t: any) => /right now/.test(t.reason));
    for (const t of hot) assert.ok(played.has(t.title), `${t.title} was never played`);
    assert.equal(hot.length, played.size);
  });

  it('similar tracks come from co-listening; a track newer than the model gets content neighbours', async () => {
    const r = await newcomer.get(`/api/tracks/${trackId('Jazz A 3')}/similar?limit=5`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.tracks.length, 5);
    for (const t of r.body.tracks) assert.equal(tracks[t.title].cluster, 'jazz', titlesOf(r).join(', '));
    assert.ok(!titlesOf(r).includes('Jazz A 3'));

    const m = await new Client(base).signup('musician', 'Jazz C');
    const other = await createTrack(deps.sql, { artistId: m.me.artistId, title: 'Jazz C 2', genre: 'jazz' });
    await markTrackReady(deps.sql, { trackId: other.id, version: other.version, durationMs: 1000, loudness: { integratedLufs: -9, truePeakDb: -1, gainDb: 0 }, renditions: [{ codec: 'aac', bitrateKbps: 128, container: 'fmp4' }] });
    const fresh = await createTrack(deps.sql, { artistId: m.me.artistId, title: 'Jazz C 1', genre: 'jazz' });
    await markTrackReady(deps.sql, { trackId: fresh.id, version: fresh.version, durationMs: 1000, loudness: { integratedLufs: -9, truePeakDb: -1, gainDb: 0 }, renditions: [{ codec: 'aac', bitrateKbps: 128, container: 'fmp4' }] });
    const s = await newcomer.get(`/api/tracks/${fresh.id}/similar?limit=5`);
    assert.equal(s.status, 200, JSON.stringify(s.body));
    assert.equal(s.body.tracks[0].title, 'Jazz C 2');
    assert.equal(s.body.tracks[0].reason, 'More from this artist');
    for (const t of s.body.tracks.slice(1)) assert.equal(t.reason, 'Same genre');
  });

  it('a listener newer than the model gets picks folded in from their likes', async () => {
    const late = await new Client(base).signup('listener', 'Late jazz fan');
    assert.equal((await like(late, 'Jazz B 4')).status, 204);
    const r = await late.get('/api/recommendations?limit=5');
    assert.equal(r.status, 200);
    for (const t of r.body.tracks) {
      assert.equal(tracks[t.title]?.cluster, 'jazz', titlesOf(r).join(', '));
      assert.equal(t.reason, 'Because you liked Jazz B 4');
    }
    assert.ok(!titlesOf(r).includes('Jazz B 4'));
  });

  it('bad input gets problem+json with a stable code', async () => {
    const anon = new Client(base);
    const p = (r: { status: number; body: any }, status: number, code: string) => {
      assert.equal(r.status, status, JSON.stringify(r.body));
      assert.equal(r.body.code, code);
      assert.ok(r.body.detail);
    };
    p(await anon.get('/api/recommendations'), 401, 'unauthenticated');
    p(await fan.get('/api/recommendations?limit=0'), 400, 'validation_failed');
    p(await fan.get('/api/recommendations?limit=abc'), 400, 'validation_failed');
    p(await fan.get('/api/recommendations?limit=101'), 400, 'validation_failed');
    p(await fan.get('/api/recommendations?limit=5&x=1'), 400, 'validation_failed');
    p(await fan.get('/api/tracks/not-a-uuid/similar'), 400, 'validation_failed');
    p(await fan.get(`/api/tracks/${randomUUID()}/similar`), 404, 'not_found');
  });
  describe('the training schedule (all-in-one runner)', () => {
    /** Deps with an empty object store (so the schedule's first run starts at once) and a log we can read. */
    const scheduleDeps = async (name: string) => {
      const dir = await mkdtemp(path.join(os.tmpdir(), `recs-schedule-${name}-`));
      const objects = await createObjectStore(loadConfig({ DATA_DIR: dir, LOG_LEVEL: 'silent' }));
      const lines: { level: number; msg: string; err?: { message: string } }[] = [];
      const sink = new Writable({ write(chunk, _enc, cb) { lines.push(JSON.parse(String(chunk))); cb(); } });
      return { dir, lines, d: { ...deps, objects, logger: pino({ level: 'info' }, sink) } };
    };

    it('a training worker that dies is a failed run, logged; the lock is released and the schedule runs again', async () => {
      const { dir, lines, d } = await scheduleDeps('fail');
      try {
        // A heap far too small for the worker: V8 kills it (a real worker failure, no fake).
        const schedule = startTrainingSchedule(d, { intervalMs: 200, firstDelayMs: 0, job: { workerResourceLimits: { maxOldGenerationSizeMb: 2, maxYoungGenerationSizeMb: 1 } } });
        const deadline = Date.now() + 60_000;
        while (lines.filter((l) => l.level === 50).length < 2) {
          assert.ok(Date.now() < deadline, `failures logged: ${JSON.stringify(lines)}`);
          await new Promise((res) => setTimeout(res, 50));
        }
        await schedule.stop();
        const failures = lines.filter((l) => l.level === 50);
        for (const f of failures) {
          assert.match(f.msg, /scheduled training failed/);
          assert.match(f.err?.message ?? '', /training worker/);
        }
        assert.equal(await readLatestPointer(d.objects), null, 'a failed run published a model');
        assert.equal(await deps.cache.get('recs:v1:train-lock'), null, 'the lock outlived the failed run');
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('stop() during a run terminates the training worker and publishes nothing', async () => {
      const { dir, lines, d } = await scheduleDeps('stop');
      try {
        let worker: Worker | null = null;
        let exitCode: number | null = null;
        let stopping: Promise<void> | null = null;
        const started = new Promise<void>((resolve) => {
          const schedule = startTrainingSchedule(d, {
            intervalMs: 60_000,
            firstDelayMs: 0,
            job: {
              onWorker: (w) => {
                worker = w;
                w.once('exit', (code) => { exitCode = code; });
                // The process shuts down while the worker trains.
                stopping = schedule.stop();
                resolve();
              },
            },
          });
        });
        await started;
        await stopping;
        assert.ok(worker, 'the run never started a worker');
        assert.notEqual(exitCode, null, 'stop() resolved while the training thread was still running');
        assert.equal(await readLatestPointer(d.objects), null, 'a stopped run published a model');
        assert.ok(lines.some((l) => /stopped with the process/.test(l.msg)), JSON.stringify(lines));
        assert.ok(!lines.some((l) => l.level === 50), 'a stop is not logged as a failure');
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});
