/**
 * The consumer killed (SIGKILL) mid-stream and restarted, on real Kafka (IT_KAFKA_BROKERS; fails when
 * unset). The consumer runs in a child process with its own chDB directory; this process runs the
 * collector (HTTP -> Kafka) and keeps posting while the child dies and comes back. After the last
 * restart: distinct events in ClickHouse == events accepted (202), count() == distinct, QoE sums and
 * plays exact.
 *
 * What it proves: SIGKILL at the two worst moments (after the raw insert but before the views were fed;
 * after both, before the offsets were committed; the fixture picks the moment, the ClickHouse client
 * is real) and once more at an arbitrary moment from outside, loses nothing and doubles nothing: the
 * next consumer replays the views of the stored block under its token, and skips rows already stored.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { AddressInfo } from 'node:net';
import { createClient } from '@clickhouse/client';
import { loadConfig } from '@platform/config';
import { createLogger } from '@platform/logging';
import { createMetricsRegistry, createServiceHttp } from '@platform/http';
import { createOlapClient } from '@platform/olap';
import { KafkaBus } from '@platform/bus';
import { MemoryCache } from '@platform/cache';
import { analyticsRoutes } from '../src/index';
import { kafkaBrokers, listening, postAll, scalar, sessionId, tmpDir, uniqueName } from './harness';

const here = path.dirname(fileURLToPath(import.meta.url));

interface Stats {
  inserted?: number;
  duplicates?: number;
  replays?: number;
  distinct?: number;
  fed?: number;
  ready?: boolean;
  dying?: string;
}
interface Child {
  proc: ChildProcess;
  last: Stats;
  exited: Promise<number | null>;
}

function startChild(env: Record<string, string>, crash?: string): Promise<Child> {
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'fixtures', 'consumer-child.ts')], {
    env: { ...process.env, ...env, CHILD_CRASH: crash ?? '' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const child: Child = { proc, last: {}, exited: new Promise((r) => proc.once('exit', (code) => r(code))) };
  return new Promise((resolve, reject) => {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      try {
        child.last = JSON.parse(line);
      } catch {
        return;
      }
      if (child.last.ready) resolve(child);
    });
    proc.once('exit', (code) => reject(new Error(`consumer child exited early (${code})`)));
  });
}

async function until(what: string, fn: () => boolean, ms = 120_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('consumer killed with SIGKILL mid-stream and restarted: nothing lost, nothing doubled (Kafka)', async (t) => {
  const brokers = kafkaBrokers();
  const logger = createLogger({ name: 'crash-test', level: 'silent' });
  const dataDir = tmpDir('analytics-crash');
  const chdbDir = path.join(dataDir, 'clickhouse');
  const topic = uniqueName('playback.events.crash');
  const group = uniqueName('analytics-writer-crash');
  const bus = new KafkaBus({ brokers, clientId: 'crash-test', defaultPartitions: 4 }, logger);
  await bus.ensureTopic(topic, { partitions: 4 });
  // The collector needs no ClickHouse for beacons: the child owns the chDB directory (one process per dir).
  const unusedOlap = createClient({ url: 'http://127.0.0.1:1' });
  const metrics = createMetricsRegistry('crash-test');
  const { app } = createServiceHttp({ name: 'crash-test', logger, registry: metrics });
  app.decorateRequest('user', null);
  const config = loadConfig({ DATA_DIR: dataDir });
  await app.register(analyticsRoutes({ config, logger, metrics, sql: null as never, olap: unusedOlap, bus, cache: new MemoryCache({}) }, { topic, migrate: false, sessionRequestsPerMinute: 1e9 }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const env = { CHILD_BROKERS: brokers.join(','), CHILD_TOPIC: topic, CHILD_GROUP: group, CHILD_CHDB_DIR: chdbDir, CHILD_DATA_DIR: dataDir };

  let accepted = 0;
  let views = 0;
  const post = async (n: number) => {
    for (let i = 0; i < n; i++) {
      accepted += await postAll(url, listening(sessionId(), 'crash-track', { untilMs: 40_000, end: 'ended' }));
      views++;
    }
  };
  try {
    // 1. Dies right after a raw insert, before the views are fed and before the commit.
    let child = await startChild(env, 'between-steps:3');
    await Promise.all([post(30), child.exited]);
    assert.equal(child.last.dying, 'between-steps', 'the first consumer died where it was told to');
    // 2. Must replay the views for the stored block; dies right after feeding views, before the commit.
    child = await startChild(env, 'after-views:3');
    await Promise.all([post(30), child.exited]);
    assert.equal(child.last.dying, 'after-views');
    const afterCrashes: Stats[] = [child.last];
    // 3. Must find the second one's rows already stored; then killed from outside at an arbitrary point.
    child = await startChild(env);
    const seen = child.last.inserted ?? 0;
    const posting = post(30);
    await until('the third consumer to insert', () => (child.last.inserted ?? 0) > seen && (child.last.duplicates ?? 0) > 0);
    t.diagnostic(`third consumer before SIGKILL: ${JSON.stringify(child.last)}`);
    afterCrashes.push(child.last);
    child.proc.kill('SIGKILL');
    await child.exited;
    await posting;
    // 4. Finishes the stream.
    child = await startChild(env);
    await until(`all ${accepted} accepted events stored and fed to the views`, () => (child.last.distinct ?? 0) >= accepted && (child.last.fed ?? 0) >= accepted);
    t.diagnostic(`last consumer: ${JSON.stringify(child.last)}`);
    afterCrashes.push(child.last);
    // The block stranded between the two steps had its views fed again by whichever consumer reached its
    // partition first (Kafka hands partitions over one at a time, so not necessarily the next one).
    assert.ok(afterCrashes.reduce((n, x) => n + (x.replays ?? 0), 0) >= 1, `a stored block's views were fed again: ${JSON.stringify(afterCrashes)}`);
    child.proc.kill('SIGTERM');
    assert.equal(await child.exited, 0);
  } finally {
    await app.close();
    await bus.close();
    await unusedOlap.close();
  }
  // The child is gone: open its chDB directory here and check.
  const olap = await createOlapClient(loadConfig({ DATA_DIR: dataDir }), logger, { embeddedPath: chdbDir });
  try {
    assert.equal(await scalar(olap, 'SELECT uniqExact(eventId) FROM playback_events'), accepted, 'distinct events == accepted');
    assert.equal(await scalar(olap, 'SELECT count() FROM playback_events'), accepted, 'no row written twice');
    assert.equal(await scalar(olap, 'SELECT sum(events) FROM qoe_1m'), accepted, 'the views got every event exactly once');
    assert.equal(await scalar(olap, 'SELECT sum(playingMs) FROM qoe_1m'), views * 40_000, 'QoE sums exact');
    assert.equal(await scalar(olap, "SELECT count() FROM plays WHERE trackId = 'crash-track'"), views, 'one play per listening');
    assert.equal(await scalar(olap, "SELECT uniqExactMerge(plays) FROM track_plays_1h WHERE trackId = 'crash-track'"), views);
  } finally {
    await olap.close();
  }
});
