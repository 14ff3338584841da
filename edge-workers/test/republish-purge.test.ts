/**
 * A track re-published as a new version through the real packager worker (ffmpeg + shaka-packager,
 * real PostgreSQL: IT_DATABASE_URL when set, else embedded; the in-process bus) stops serving its old
 * version at the edge: the listener's v1 grant, unchanged, gets 410 once v2 is published, and v2 plays.
 * The old version's objects stay in storage (the packager never deletes them), so the 410 is the
 * edge's purge, not a missing object.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '@platform/config';
import { createMetricsRegistry } from '@platform/http';
import { createSqlDatabase, createTestDatabase, runMigrations, type SqlDatabase } from '@platform/sql';
import { MemoryBus } from '@platform/bus';
import { MemoryCache } from '@platform/cache';
import { INGEST_JOBS_TOPIC, type TIngestJob } from '@platform/models';
import { catalogMigrations, createTrack, getTrack, startTrackVersion } from '@platform/catalog';
import { createPackagerWorker, type PackagerWorker } from '@platform/packager';
import { signGrant } from '@platform/grants';
import { rawGet, silentLogger, startStack, type Stack } from './harness';

let stack: Stack;
let sqlDb: SqlDatabase;
let worker: PackagerWorker;
const bus = new MemoryBus(silentLogger, 3);
const cleanups: Array<() => Promise<unknown>> = [];

before(async () => {
  stack = await startStack();
  cleanups.push(() => bus.close());
  const base = process.env.IT_DATABASE_URL;
  let dbConfig;
  if (base) {
    const tdb = await createTestDatabase(base, 'edge_republish');
    cleanups.push(() => tdb.drop());
    dbConfig = loadConfig({ DATABASE_URL: tdb.url, DATA_DIR: stack.dir });
  } else {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'edge-republish-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    dbConfig = loadConfig({ DATA_DIR: dataDir });
  }
  sqlDb = await createSqlDatabase(dbConfig, silentLogger, { database: 'edge_republish' });
  cleanups.unshift(() => sqlDb.close());
  await runMigrations(sqlDb.db, catalogMigrations);
  const config = loadConfig({ DATA_DIR: stack.dir, SEGMENT_DURATION_S: '2' });
  worker = createPackagerWorker({ config, logger: silentLogger, metrics: createMetricsRegistry('packager'), sql: sqlDb.db, objects: stack.objects, bus, cache: new MemoryCache() });
  await worker.start();
  cleanups.unshift(() => worker.stop());
});
after(async () => {
  for (const c of cleanups) await c();
  await stack.close();
});

async function publish(trackId: string, version: number, originalKey: string): Promise<void> {
  const job: TIngestJob = { v: 1, trackId, version, originalKey, uploadedBy: 'test', requestedAt: new Date().toISOString(), source: { format: 'wav', downmix: false } };
  await bus.send(INGEST_JOBS_TOPIC, [{ key: trackId, value: JSON.stringify(job) }]);
  const end = Date.now() + 180_000;
  for (;;) {
    const t = await getTrack(sqlDb.db, trackId);
    if (t?.publishedVersion === version) return;
    assert.notEqual(t?.status, 'failed', `packaging v${version} failed: ${t?.errorDetail}`);
    assert.ok(Date.now() < end, `v${version} was not published within 180 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The master, its first variant playlist and that playlist's first segment, as edge paths. */
async function playPaths(edgeUrl: string, trackId: string, version: number): Promise<string[]> {
  const g = signGrant(stack.keys[0], { trackId, version, exp: Date.now() + 3600_000 });
  const master = `/g/${g}/tracks/${trackId}/v${version}/master.m3u8`;
  const uris = (text: string) => text.split('\n').filter((l) => l && !l.startsWith('#'));
  const m = await rawGet(edgeUrl, master);
  assert.equal(m.status, 200, master);
  const variant = new URL(uris(m.body.toString())[0], `http://edge${master}`).pathname;
  const v = await rawGet(edgeUrl, variant);
  assert.equal(v.status, 200, variant);
  const segment = new URL(uris(v.body.toString())[0], `http://edge${variant}`).pathname;
  return [master, variant, segment];
}

test('republished through the packager: the old version is purged from the edge, the new one plays', async () => {
  const { url: edgeUrl } = await stack.startEdge({ bus, prefetchSegments: 0 });
  const wav = path.join(stack.dir, 'source.wav');
  const r = spawnSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=f=330:r=44100:d=3', '-ac', '2', wav], { encoding: 'utf8' });
  assert.equal(r.status, 0, `ffmpeg failed: ${r.stderr}`);
  const trackId = randomUUID();
  const originalKey = `originals/${trackId}/${randomUUID()}.wav`;
  await stack.objects.putFile(originalKey, wav);
  await createTrack(sqlDb.db, { id: trackId, artistName: 'Republisher', ownerUserId: null, title: 'Twice', originalKey });

  await publish(trackId, 1, originalKey);
  const v1 = await playPaths(edgeUrl, trackId, 1);
  assert.equal((await rawGet(edgeUrl, v1[2])).status, 200);
  const seg = await rawGet(edgeUrl, v1[2]);
  assert.equal(seg.headers['x-cache'], 'HIT', 'the v1 segment is cached at the edge');

  const version = await startTrackVersion(sqlDb.db, { trackId, originalKey });
  assert.equal(version, 2);
  await publish(trackId, 2, originalKey);
  const end = Date.now() + 20_000;
  while ((await rawGet(edgeUrl, v1[2])).status !== 410) {
    assert.ok(Date.now() < end, 'the edge still serves v1 20 s after v2 was published');
    await new Promise((res) => setTimeout(res, 50));
  }
  for (const p of v1) assert.equal((await rawGet(edgeUrl, p)).status, 410, p);
  assert.ok(await stack.objects.head(`tracks/${trackId}/v1/master.m3u8`), 'v1 is still in storage: the 410 is the purge');
  await playPaths(edgeUrl, trackId, 2);
});
