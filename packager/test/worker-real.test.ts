/**
 * The packager on the real services (npm test starts them): PostgreSQL, Kafka, MinIO (S3). A worker
 * process is SIGKILLed in the middle of uploading a track: nothing becomes visible (no manifest, the
 * catalog still `processing`), Kafka hands the uncommitted job to another worker, which publishes
 * the track; the stored package is then checked as a player would read it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '@platform/config';
import { createLogger } from '@platform/logging';
import { createMetricsRegistry } from '@platform/http';
import { createSqlDatabase, createTestDatabase, runMigrations, type SqlDatabase, type TestDatabase } from '@platform/sql';
import { S3ObjectStore } from '@platform/storage';
import { KafkaBus } from '@platform/bus';
import { MemoryCache } from '@platform/cache';
import { catalogMigrations, createTrack, getTrack } from '@platform/catalog';
import type { TIngestJob } from '@platform/models';
import { createPackagerWorker, trackPrefix } from '../src/index';
import { makeWav } from '../../libs/media/test/fixtures';
import { verifyPackagedTrack } from '../../libs/media/test/verify-package';
import { downloadPrefix } from './harness';

function requireEnv(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: this test needs the real service. Run \`npm test\` (it starts infra/local), or \`bash infra/local/up.sh && source .infra/env\` first.`);
  return v;
}

const logger = createLogger({ name: 'packager-real-test', level: 'error' });
const run = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
const topic = `test.ingest.jobs.${run}`;
const groupId = `packager-test-${run}`;
let dir = '';
let tdb: TestDatabase;
let sql: SqlDatabase;
let objects: S3ObjectStore;
let bus: KafkaBus;

before(async () => {
  const dbBase = requireEnv('IT_DATABASE_URL');
  const brokers = requireEnv('IT_KAFKA_BROKERS');
  const s3 = { endpoint: requireEnv('IT_S3_ENDPOINT'), accessKey: requireEnv('IT_S3_ACCESS_KEY'), secretKey: requireEnv('IT_S3_SECRET_KEY'), bucket: requireEnv('IT_S3_BUCKET') };
  dir = await mkdtemp(path.join(os.tmpdir(), 'packager-real-'));
  tdb = await createTestDatabase(dbBase, 'packager_real');
  sql = await createSqlDatabase(loadConfig({ DATABASE_URL: tdb.url }), logger, { maxConnections: 3 });
  await runMigrations(sql.db, catalogMigrations);
  objects = await new S3ObjectStore(s3).init();
  bus = new KafkaBus({ brokers: brokers.split(','), clientId: 'packager-real-test' }, logger);
  await bus.ensureTopic(topic, { partitions: 1 });
});

after(async () => {
  await bus?.close().catch(() => undefined);
  await objects?.close().catch(() => undefined);
  await sql?.close().catch(() => undefined);
  await tdb?.drop().catch(() => undefined);
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('worker SIGKILLed while uploading: nothing visible, Kafka redelivers, another worker publishes', async () => {
  const src = makeWav(path.join(dir, 'song.wav'), { seconds: 6 });
  const trackId = randomUUID();
  const originalKey = `originals/${trackId}/${randomUUID()}.wav`;
  await objects.putFile(originalKey, src);
  const created = await createTrack(sql.db, { id: trackId, artistName: 'Real Test', ownerUserId: null, title: 'Crash', originalKey });
  const job: TIngestJob = {
    v: 1, trackId, version: created.version, originalKey, uploadedBy: 'test', requestedAt: new Date().toISOString(), source: { format: 'wav', downmix: false },
  };
  const prefix = trackPrefix(trackId, job.version);

  const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'worker-child.ts'), tdb.url, topic, groupId], {
    cwd: path.join(import.meta.dirname, '..', '..'),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const events: { event: string; stage?: string }[] = [];
  let buf = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    const lines = buf.split('\n');
    buf = lines.pop() ?? '';
    for (const l of lines) if (l.startsWith('{')) events.push(JSON.parse(l));
  });
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  try {
    const deadline = Date.now() + 120_000;
    while (!events.some((e) => e.event === 'started')) {
      assert.ok(Date.now() < deadline, 'child worker did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
    await bus.send(topic, [{ key: trackId, value: JSON.stringify(job) }]);
    while (!events.some((e) => e.stage === 'uploading')) {
      assert.ok(Date.now() < deadline, `child never reached uploading (saw ${events.map((e) => e.stage).join(',')})`);
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
  const mid = await getTrack(sql.db, trackId);
  assert.equal(mid?.status, 'processing');
  assert.equal(mid?.publishedVersion, null);
  assert.equal(await objects.head(`${prefix}master.m3u8`), null, 'no master after the crash');
  assert.equal(await objects.head(`${prefix}manifest.mpd`), null, 'no MPD after the crash');

  const worker = createPackagerWorker(
    { config: loadConfig({ DATABASE_URL: tdb.url, SEGMENT_DURATION_S: '2' }), logger, metrics: createMetricsRegistry('packager-real'), sql: sql.db, objects, bus, cache: new MemoryCache() },
    { topic, groupId, sessionTimeoutMs: 6000 },
  );
  await worker.start();
  try {
    // The broker hands the partition over once the dead member's session (6 s) has expired.
    const deadline = Date.now() + 180_000;
    for (;;) {
      const t = await getTrack(sql.db, trackId);
      if (t?.status === 'ready') break;
      assert.notEqual(t?.status, 'failed', `${t?.errorCode}: ${t?.errorDetail}`);
      assert.ok(Date.now() < deadline, 'the redelivered job was not completed');
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await worker.stop();
  }
  const local = path.join(dir, 'stored');
  const keys = await downloadPrefix(objects, prefix, local);
  assert.ok(keys.includes(`${prefix}peaks.json`));
  verifyPackagedTrack(local, 6000);
  await objects.deletePrefix(`tracks/${trackId}/`);
  await objects.deletePrefix(`originals/${trackId}/`);
});
