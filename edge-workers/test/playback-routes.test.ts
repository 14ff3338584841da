/**
 * GET /api/tracks/:id/playback on a real web app (catalog auth + the playback plugin) over real
 * PostgreSQL (IT_DATABASE_URL when set, else embedded), and the signed URLs it returns played
 * through a real edge and origin. Deleting the track through the catalog's route purges it from the
 * edge (cache.purge on the in-process bus): the same signed URL then gets 410.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '@platform/config';
import { createMetricsRegistry, createServiceHttp } from '@platform/http';
import { createSqlDatabase, createTestDatabase, runMigrations, type SqlDatabase } from '@platform/sql';
import { MemoryCache } from '@platform/cache';
import { ZPlaybackResponse } from '@platform/models';
import { MemoryBus } from '@platform/bus';
import { authPlugin, catalogMigrations, catalogRoutes, createTrack, markTrackReady } from '@platform/catalog';
import type { PlatformDeps } from '@platform/runtime';
import { playbackRoutes } from '@platform/edge-workers';
import { rawGet, silentLogger, startStack, writePackagedTrack, type Stack } from './harness';

let stack: Stack;
let edgeUrl: string;
let webUrl: string;
let sqlDb: SqlDatabase;
const cleanups: Array<() => Promise<unknown>> = [];

const bus = new MemoryBus(silentLogger);

before(async () => {
  stack = await startStack();
  cleanups.push(() => bus.close());
  ({ url: edgeUrl } = await stack.startEdge({ bus }));
  let config = loadConfig({});
  const base = process.env.IT_DATABASE_URL;
  if (base) {
    const tdb = await createTestDatabase(base, 'playback');
    cleanups.push(() => tdb.drop());
    config = loadConfig({ DATABASE_URL: tdb.url, DATA_DIR: stack.dir });
  } else {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'playback-embedded-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    config = loadConfig({ DATA_DIR: dataDir });
  }
  sqlDb = await createSqlDatabase(config, silentLogger, { database: 'playback' });
  cleanups.unshift(() => sqlDb.close());
  await runMigrations(sqlDb.db, catalogMigrations);
  const cache = new MemoryCache();
  const deps = { config, logger: silentLogger, metrics: createMetricsRegistry('web'), sql: sqlDb.db, cache, objects: stack.objects, bus } as unknown as PlatformDeps;
  const { app } = createServiceHttp({ name: 'web', logger: silentLogger, registry: deps.metrics });
  await app.register(authPlugin(deps));
  await app.register(playbackRoutes({ ...deps, signingKeys: stack.keys, edgePublicUrl: edgeUrl }));
  await app.register(catalogRoutes(deps));
  await app.listen({ port: 0, host: '127.0.0.1' });
  webUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  cleanups.unshift(() => app.close());
});
after(async () => {
  for (const c of cleanups) await c();
  await stack.close();
});

test('playback: 404 until published, then signed URLs that play through the edge', async () => {
  const { id, version } = await createTrack(sqlDb.db, { artistName: 'Playback Artist', title: 'Signed' });
  const pending = await fetch(`${webUrl}/api/tracks/${id}/playback`);
  assert.equal(pending.status, 404);
  assert.equal((await pending.json()).code, 'not_found');

  await writePackagedTrack(stack.objects, id, version);
  assert.equal(await markTrackReady(sqlDb.db, { trackId: id, version, durationMs: 24_000, loudness: null, renditions: [] }), true);
  const r = await fetch(`${webUrl}/api/tracks/${id}/playback`);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('cache-control'), 'private, no-store');
  const body = ZPlaybackResponse.parse(await r.json());
  assert.equal(body.version, version);
  assert.ok(body.hls.startsWith(`${edgeUrl}/g/`) && body.hls.endsWith(`/tracks/${id}/v${version}/master.m3u8`), body.hls);
  assert.ok(body.dash.endsWith(`/tracks/${id}/v${version}/manifest.mpd`));
  assert.ok(Date.parse(body.expiresAt) > Date.now() + 3600_000);

  for (const u of [body.hls, body.dash]) {
    const m = await fetch(u);
    assert.equal(m.status, 200, u);
  }
  // One grant covers that track version and nothing else.
  const grant = new URL(body.hls).pathname.split('/')[2];
  const other = await createTrack(sqlDb.db, { artistName: 'Playback Artist', title: 'Other' });
  await writePackagedTrack(stack.objects, other.id, other.version);
  assert.equal((await rawGet(edgeUrl, `/g/${grant}/tracks/${other.id}/v${other.version}/master.m3u8`)).status, 403);
});

test('playback: bad ids are 400, unknown ids 404', async () => {
  const bad = await fetch(`${webUrl}/api/tracks/${encodeURIComponent('../etc')}/playback`);
  assert.ok([400, 404].includes(bad.status));
  const invalid = await fetch(`${webUrl}/api/tracks/not*an*id/playback`);
  assert.equal(invalid.status, 400);
  assert.equal((await invalid.json()).code, 'validation_failed');
  const unknown = await fetch(`${webUrl}/api/tracks/00000000-0000-4000-8000-000000000000/playback`);
  assert.equal(unknown.status, 404);
});

test('playback with a session: the grant is bound to it', async () => {
  const { id, version } = await createTrack(sqlDb.db, { artistName: 'Playback Artist', title: 'Bound' });
  await writePackagedTrack(stack.objects, id, version);
  await markTrackReady(sqlDb.db, { trackId: id, version, durationMs: 24_000, loudness: null, renditions: [] });
  const signup = await fetch(`${webUrl}/api/auth/signup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: `l${Date.now()}@example.com`, password: 'correct horse battery staple 9', displayName: 'Listener', role: 'listener' }),
  });
  assert.equal(signup.status, 201);
  const sid = /(?:^|,\s*)sid=([^;]+)/.exec(signup.headers.getSetCookie().join(', '))?.[1];
  assert.ok(sid);
  const r = await fetch(`${webUrl}/api/tracks/${id}/playback`, { headers: { cookie: `sid=${sid}` } });
  assert.equal(r.status, 200);
  const { hls } = ZPlaybackResponse.parse(await r.json());
  const p = new URL(hls).pathname;
  assert.equal((await rawGet(edgeUrl, p, { cookie: `sid=${sid}` })).status, 200);
  assert.equal((await rawGet(edgeUrl, p, { cookie: 'sid=someone-else' })).status, 403);
});

test('a track deleted through the catalog stops playing at the edge with the grant the listener holds', async () => {
  const signup = await fetch(`${webUrl}/api/auth/signup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: `m${Date.now()}@example.com`, password: 'correct horse battery staple 9', displayName: 'Musician', role: 'musician' }),
  });
  assert.equal(signup.status, 201);
  const cookies = signup.headers.getSetCookie().map((c) => c.split(';')[0]);
  const csrf = cookies.find((c) => c.startsWith('csrf='))!.slice(5);
  const cookie = cookies.join('; ');
  const me = (await (await fetch(`${webUrl}/api/me`, { headers: { cookie } })).json()) as { id: string };
  const { id, version } = await createTrack(sqlDb.db, { artistName: 'Deleting Musician', title: 'Soon gone', ownerUserId: me.id });
  await writePackagedTrack(stack.objects, id, version);
  await markTrackReady(sqlDb.db, { trackId: id, version, durationMs: 24_000, loudness: null, renditions: [] });
  const { hls } = ZPlaybackResponse.parse(await (await fetch(`${webUrl}/api/tracks/${id}/playback`)).json());
  const segment = new URL(`aac_128/1.m4s`, hls).pathname;
  const master = new URL(hls).pathname;
  for (const p of [master, segment, segment]) assert.equal((await rawGet(edgeUrl, p)).status, 200);
  assert.equal((await rawGet(edgeUrl, segment)).headers['x-cache'], 'HIT');

  const del = await fetch(`${webUrl}/api/tracks/${id}`, { method: 'DELETE', headers: { cookie, 'x-csrf-token': csrf } });
  assert.equal(del.status, 204);
  // The bus delivers asynchronously; the purge is one in-process hop away.
  const end = Date.now() + 20_000;
  while ((await rawGet(edgeUrl, segment)).status !== 410) {
    assert.ok(Date.now() < end, 'the edge still serves the deleted track 20 s after the delete');
    await new Promise((r) => setTimeout(r, 50));
  }
  const m = await rawGet(edgeUrl, master);
  assert.equal(m.status, 410);
  assert.equal(JSON.parse(m.body.toString()).code, 'gone');
  assert.equal((await fetch(`${webUrl}/api/tracks/${id}/playback`)).status, 404, 'no new grant for a deleted track');
});
