/**
 * Purges: a deleted track (or the older versions of a republished one) stops being served by every
 * edge, with the listener's grant unchanged, on the in-process bus and on real Kafka
 * (IT_KAFKA_BROKERS; the Kafka test fails when it is not set). The end-to-end path through the
 * catalog's DELETE /api/tracks/:id is in playback-routes.test.ts.
 *
 * The origin keeps the objects in these tests on purpose: a 410 (not the origin's 404) proves the
 * edge refuses them by itself, without asking upstream.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs/promises';
import path from 'node:path';
import { signGrant } from '@platform/grants';
import { KafkaBus, MemoryBus, type Bus } from '@platform/bus';
import { CACHE_PURGE_TOPIC, cachePurgeMessage } from '@platform/models';
import { metricValue, newTrackId, rawGet, silentLogger, startStack, urlOf, writePackagedTrack, type Stack } from './harness';

let stack: Stack;
const hour = 3600_000;

before(async () => {
  stack = await startStack();
});
after(() => stack.close());

const grantFor = (trackId: string, version: number) => signGrant(stack.keys[0], { trackId, version, exp: Date.now() + hour });
const pathFor = (g: string, trackId: string, version: number, file: string) => `/g/${g}/tracks/${trackId}/v${version}/${file}`;
const originRequests = () => metricValue(stack.originUrl, 'origin_requests_total');

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Fetch twice: the second answer must be a HIT (the object is cached at this edge). */
async function cacheAt(edgeUrl: string, p: string): Promise<void> {
  await rawGet(edgeUrl, p);
  const r = await rawGet(edgeUrl, p);
  assert.equal(r.status, 200, p);
  assert.equal(r.headers['x-cache'], 'HIT', p);
}

test('memory bus: a deleted track is purged; the same grant then gets 410 and the origin is not asked', async () => {
  const bus = new MemoryBus(silentLogger);
  try {
    const { url } = await stack.startEdge({ bus, prefetchSegments: 0 });
    const gone = newTrackId();
    const kept = newTrackId();
    await writePackagedTrack(stack.objects, gone, 1);
    await writePackagedTrack(stack.objects, kept, 1);
    const g = grantFor(gone, 1);
    const gk = grantFor(kept, 1);
    const files = ['master.m3u8', 'aac_128/playlist.m3u8', 'aac_128/init.mp4', 'aac_128/1.m4s', 'aac_128/2.m4s'];
    for (const f of files) await cacheAt(url, pathFor(g, gone, 1, f));
    await cacheAt(url, pathFor(gk, kept, 1, 'aac_128/1.m4s'));

    await bus.send(CACHE_PURGE_TOPIC, [cachePurgeMessage({ trackId: gone, reason: 'deleted' })]);
    await until(async () => (await rawGet(url, pathFor(g, gone, 1, 'aac_128/1.m4s'))).status === 410, 'the purge to reach the edge');

    const before = await originRequests();
    for (const f of [...files, 'aac_128/3.m4s', 'opus_96/1.m4s']) {
      const r = await rawGet(url, pathFor(g, gone, 1, f));
      assert.equal(r.status, 410, f);
      assert.equal(r.headers['content-type'], 'application/problem+json');
      assert.equal(JSON.parse(r.body.toString()).code, 'gone');
      assert.equal(r.headers['access-control-allow-origin'], '*', 'players on another host can read the refusal');
    }
    assert.equal(await originRequests(), before, 'purged objects cost the origin nothing');
    // A grant is still checked first: a bad one stays 403, not 410.
    assert.equal((await rawGet(url, pathFor(grantFor(kept, 1), gone, 1, 'master.m3u8'))).status, 403);
    // Another track on the same edge is untouched.
    const other = await rawGet(url, pathFor(gk, kept, 1, 'aac_128/1.m4s'));
    assert.equal(other.status, 200);
    assert.equal(other.headers['x-cache'], 'HIT');
    assert.ok((await metricValue(url, 'edge_purges_total')) >= 1);
    assert.ok((await metricValue(url, 'edge_purged_objects_total')) >= files.length);
    assert.ok((await metricValue(url, 'edge_gone_total')) >= 1);
  } finally {
    await bus.close();
  }
});

test('memory bus: a republished track loses its older versions only', async () => {
  const bus = new MemoryBus(silentLogger);
  try {
    const { url } = await stack.startEdge({ bus, prefetchSegments: 0 });
    const id = newTrackId();
    await writePackagedTrack(stack.objects, id, 1);
    await writePackagedTrack(stack.objects, id, 2);
    const g1 = grantFor(id, 1);
    const g2 = grantFor(id, 2);
    await cacheAt(url, pathFor(g1, id, 1, 'aac_128/1.m4s'));
    await cacheAt(url, pathFor(g2, id, 2, 'aac_128/1.m4s'));

    await bus.send(CACHE_PURGE_TOPIC, [cachePurgeMessage({ trackId: id, reason: 'republished', beforeVersion: 2 })]);
    await until(async () => (await rawGet(url, pathFor(g1, id, 1, 'aac_128/1.m4s'))).status === 410, 'the purge to reach the edge');
    assert.equal((await rawGet(url, pathFor(g1, id, 1, 'master.m3u8'))).status, 410);
    const v2 = await rawGet(url, pathFor(g2, id, 2, 'aac_128/1.m4s'));
    assert.equal(v2.status, 200);
    assert.equal(v2.headers['x-cache'], 'HIT', 'the published version stays cached');
  } finally {
    await bus.close();
  }
});

test('disk tier: a purge deletes the purged versions\' copies from disk, and only those', async () => {
  const bus = new MemoryBus(silentLogger);
  const diskCacheDir = path.join(stack.dir, 'purge-disk');
  /** Keys of the objects on disk, from their metadata files (not a write in progress: its temp file is renamed or gone by the time it is read). */
  const onDisk = async (): Promise<string[]> => {
    const names = (await fs.readdir(diskCacheDir, { recursive: true }).catch(() => [] as string[])).map(String).filter((n) => n.endsWith('.json') && !n.endsWith('.tmp.json'));
    const keys = await Promise.all(names.map(async (n) => {
      const text = await fs.readFile(path.join(diskCacheDir, n), 'utf8').catch(() => null); // deleted meanwhile (a purge)
      return text === null ? null : (JSON.parse(text) as { key: string }).key;
    }));
    return keys.filter((k): k is string => k !== null);
  };
  try {
    const { url } = await stack.startEdge({ bus, prefetchSegments: 0, diskCacheDir });
    const id = newTrackId();
    const other = newTrackId();
    await writePackagedTrack(stack.objects, id, 1);
    await writePackagedTrack(stack.objects, id, 2);
    await writePackagedTrack(stack.objects, other, 1);
    const wanted = [
      [id, 1, 'aac_128/1.m4s'], [id, 1, 'aac_128/2.m4s'], [id, 2, 'aac_128/1.m4s'], [other, 1, 'aac_128/1.m4s'],
    ] as const;
    for (const [t, v, f] of wanted) await cacheAt(url, pathFor(grantFor(t, v), t, v, f));
    await until(async () => (await onDisk()).length === wanted.length, 'the disk writes');

    await bus.send(CACHE_PURGE_TOPIC, [cachePurgeMessage({ trackId: id, reason: 'republished', beforeVersion: 2 })]);
    await until(async () => !(await onDisk()).some((k) => k.startsWith(`tracks/${id}/v1/`)), 'the v1 copies to leave the disk');
    assert.deepEqual((await onDisk()).sort(), [`tracks/${id}/v2/aac_128/1.m4s`, `tracks/${other}/v1/aac_128/1.m4s`].sort());
    assert.equal((await rawGet(url, pathFor(grantFor(id, 1), id, 1, 'aac_128/1.m4s'))).status, 410);
    assert.equal((await rawGet(url, pathFor(grantFor(id, 2), id, 2, 'aac_128/1.m4s'))).status, 200);
  } finally {
    await bus.close();
  }
});

test('a purge arriving while the object is being fetched: the fetch neither answers 200 nor re-caches it', async () => {
  // A gate in front of the origin holds the edge's fetch until the purge is in.
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let arrived!: () => void;
  const hasArrived = new Promise<void>((r) => (arrived = r));
  const origin = new URL(stack.originUrl);
  const proxy = http.createServer((req, res) => {
    arrived();
    void gate.then(() => {
      const up = http.request({ host: origin.hostname, port: origin.port, path: req.url, method: req.method, headers: req.headers }, (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      });
      up.on('error', () => res.destroy());
      up.end();
    });
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  try {
    const { edge, url } = await stack.startEdge({ originUrl: urlOf(proxy), prefetchSegments: 0, originTimeoutMs: 20_000 });
    const id = newTrackId();
    await writePackagedTrack(stack.objects, id, 1);
    const p = pathFor(grantFor(id, 1), id, 1, 'aac_128/1.m4s');
    const pending = rawGet(url, p);
    await hasArrived; // the edge's upstream fetch is in flight, held at the gate
    assert.equal(edge.purge({ trackId: id }), 0, 'nothing cached yet');
    release();
    assert.equal((await pending).status, 410);
    assert.equal((await rawGet(url, p)).status, 410, 'not re-cached by the fetch that was in flight');
    assert.equal(edge.stats().cacheEntries, 0);
  } finally {
    release();
    proxy.closeAllConnections();
    await new Promise((r) => proxy.close(r));
  }
});

test('Kafka: every edge gets every purge (a consumer group per edge), with unchanged grants', async () => {
  const brokers = process.env.IT_KAFKA_BROKERS;
  assert.ok(brokers, 'IT_KAFKA_BROKERS is not set: this test needs a real Kafka (npm test starts one; by hand: bash infra/local/up.sh && source .infra/env)');
  const busFor = (name: string): Bus => new KafkaBus({ brokers: brokers.split(','), clientId: `edge-purge-test-${name}` }, silentLogger);
  const buses = [busFor('a'), busFor('b'), busFor('catalog')];
  try {
    // Two edges on one machine with the same EDGE_ID: their groups must still differ.
    const a = await stack.startEdge({ bus: buses[0], prefetchSegments: 0 });
    const b = await stack.startEdge({ bus: buses[1], prefetchSegments: 0 });
    const id = newTrackId();
    await writePackagedTrack(stack.objects, id, 1);
    const g = grantFor(id, 1);
    const seg = pathFor(g, id, 1, 'aac_128/1.m4s');
    for (const e of [a, b]) {
      await cacheAt(e.url, seg);
      await cacheAt(e.url, pathFor(g, id, 1, 'master.m3u8'));
    }
    // What the catalog's delete route sends.
    await buses[2].send(CACHE_PURGE_TOPIC, [cachePurgeMessage({ trackId: id, reason: 'deleted' })]);
    for (const e of [a, b]) {
      await until(async () => (await rawGet(e.url, seg)).status === 410, `edge ${e.url} to apply the Kafka purge`, 90_000);
      assert.equal((await rawGet(e.url, pathFor(g, id, 1, 'master.m3u8'))).status, 410);
      assert.equal(e.edge.stats().gone >= 2, true);
    }
    const ready = JSON.parse((await rawGet(a.url, '/readyz')).body.toString());
    assert.equal(ready.checks.purges, 'ok');
  } finally {
    for (const e of stack.edges.splice(0)) await e.close();
    for (const bus of buses) await bus.close();
  }
});
