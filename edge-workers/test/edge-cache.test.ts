/**
 * Caching at the edge: HIT/MISS, cache key without grant or CMCD, Range from cache, coalescing, a body cut mid-way,
 * prefetch, stale on origin failure, bounded wait on a slow origin, disk tier, tiered parents,
 * CMCD in the access log, metrics.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { signGrant } from '@platform/grants';
import { createMetricsRegistry } from '@platform/http';
import { createEdgeServer, loadFastPath } from '@platform/edge-workers';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { metricValue, newTrackId, putObject, rawGet, startStack, urlOf, writePackagedTrack, type Stack } from './harness';

let stack: Stack;
let files: Map<string, Buffer>;
const track = newTrackId();
const hour = 3600_000;

before(async () => {
  stack = await startStack();
  files = await writePackagedTrack(stack.objects, track, 1);
});
after(() => stack.close());

const grant = (key = 0) => signGrant(stack.keys[key], { trackId: track, version: 1, exp: Date.now() + hour });
const mediaPath = (g: string, file: string) => `/g/${g}/tracks/${track}/v1/${file}`;
const originRequests = () => metricValue(stack.originUrl, 'origin_requests_total');

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('MISS then HIT; the cache key ignores the grant and CMCD; Range and If-None-Match come from the cached copy', async () => {
  const { url } = await stack.startEdge({ prefetchSegments: 0 });
  const file = 'aac_128/4.m4s';
  const body = files.get(`tracks/${track}/v1/${file}`)!;
  const before = await originRequests();
  const a = await rawGet(url, `${mediaPath(grant(0), file)}?CMCD=${encodeURIComponent('br=128,ot=a,sid="s1"')}`);
  assert.equal(a.status, 200);
  assert.equal(a.headers['x-cache'], 'MISS');
  assert.deepEqual(a.body, body);
  const b = await rawGet(url, `${mediaPath(grant(1), file)}?CMCD=${encodeURIComponent('br=64,ot=a,sid="s2"')}`, { 'cmcd-request': 'bl=2000' });
  assert.equal(b.headers['x-cache'], 'HIT', 'another grant and other CMCD hit the same cache entry');
  assert.deepEqual(b.body, body);
  assert.equal(a.headers.etag, b.headers.etag);
  assert.equal(await originRequests(), before + 1);

  const r = await rawGet(url, mediaPath(grant(), file), { range: 'bytes=10-19' });
  assert.equal(r.status, 206);
  assert.equal(r.headers['content-range'], `bytes 10-19/${body.length}`);
  assert.deepEqual(r.body, body.subarray(10, 20));
  const bad = await rawGet(url, mediaPath(grant(), file), { range: `bytes=${body.length + 5}-` });
  assert.equal(bad.status, 416);
  assert.equal(bad.headers['content-range'], `bytes */${body.length}`);
  const nm = await rawGet(url, mediaPath(grant(), file), { 'if-none-match': String(a.headers.etag) });
  assert.equal(nm.status, 304);
  // The hit path reads these from the raw headers: any case, lists as clients send them.
  const nmCase = await rawGet(url, mediaPath(grant(), file), { 'If-None-Match': `"other", ${String(a.headers.etag)}` });
  assert.equal(nmCase.status, 304);
  const rangeCase = await rawGet(url, mediaPath(grant(), file), { RANGE: 'bytes=0-3', 'If-Range': String(a.headers.etag) });
  assert.equal(rangeCase.status, 206);
  assert.deepEqual(rangeCase.body, body.subarray(0, 4));
  const staleRange = await rawGet(url, mediaPath(grant(), file), { Range: 'bytes=0-3', 'IF-RANGE': '"not-this-one"' });
  assert.equal(staleRange.status, 200, 'an If-Range that does not match asks for the whole object');
  assert.equal(staleRange.body.length, body.length);
  const head = await rawGet(url, mediaPath(grant(), file), {}, 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-length'], String(body.length));
  assert.equal(await originRequests(), before + 1, 'none of these went to the origin');

  const missing = await rawGet(url, mediaPath(grant(), 'aac_128/999.m4s'));
  assert.equal(missing.status, 404);
  await rawGet(url, mediaPath(grant(), 'aac_128/999.m4s'));
  assert.equal(await originRequests(), before + 2, 'a 404 is remembered briefly');
});

test('500 concurrent requests for one cold segment -> exactly 1 origin fetch', async () => {
  const { url, edge } = await stack.startEdge({ prefetchSegments: 0 });
  const file = 'opus_96/3.m4s';
  const body = files.get(`tracks/${track}/v1/${file}`)!;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 500 });
  const before = await originRequests();
  const g = grant();
  const results = await Promise.all(Array.from({ length: 500 }, () => rawGet(url, mediaPath(g, file), {}, 'GET', agent)));
  agent.destroy();
  assert.ok(results.every((r) => r.status === 200 && r.body.equals(body)));
  assert.equal(await originRequests(), before + 1);
  assert.equal(results.filter((r) => r.headers['x-cache'] === 'MISS').length + results.filter((r) => r.headers['x-cache'] === 'HIT').length, 500);
  // Keep-alive connections start on the native path: their misses waited there, coalesced in JS.
  if (loadFastPath().addon) assert.equal(edge.stats().nativeHandoffs, 0, 'no connection went to node:http');
});

test('prefetch: a segment request warms the next two segments of that rendition', async () => {
  const { url, edge } = await stack.startEdge({ prefetchSegments: 2 });
  const before = await originRequests();
  assert.equal((await rawGet(url, mediaPath(grant(), 'mp3_128/2.ts'))).headers['x-cache'], 'MISS');
  await until(async () => (await originRequests()) === before + 3, 'the prefetches');
  await until(() => edge.stats().cacheEntries === 3, 'prefetched objects in cache');
  for (const n of [3, 4]) {
    const r = await rawGet(url, mediaPath(grant(), `mp3_128/${n}.ts`));
    assert.equal(r.headers['x-cache'], 'HIT', `${n}`);
    assert.equal(r.headers['content-type'], 'video/mp2t');
  }
});

test('prefetch: the CMCD next-object hint (nor) is warmed, within the grant scope only', async () => {
  const { url, edge } = await stack.startEdge({ prefetchSegments: 2 });
  const before = await originRequests();
  // The master playlist has no numbered successor; only the hint can name the next object.
  const hint = encodeURIComponent('nor="opus_96/playlist.m3u8"');
  assert.equal((await rawGet(url, `${mediaPath(grant(), 'master.m3u8')}?CMCD=${hint}`)).status, 200);
  await until(() => edge.stats().cacheEntries === 2, 'the hinted object');
  assert.equal((await rawGet(url, mediaPath(grant(), 'opus_96/playlist.m3u8'))).headers['x-cache'], 'HIT');
  // A hint outside the track version is ignored.
  const other = newTrackId();
  await writePackagedTrack(stack.objects, other, 1);
  const outside = encodeURIComponent(`nor="../../../${other}/v1/master.m3u8"`);
  await rawGet(url, `${mediaPath(grant(), 'aac_128/playlist.m3u8')}?CMCD=${outside}`);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(await originRequests(), before + 3, 'master, hinted playlist, aac playlist; nothing outside the scope');
});

test('origin stopped -> cached segments and stale manifests are still served; origin slow -> bounded wait', async () => {
  const { url } = await stack.startEdge({ prefetchSegments: 0, maxManifestFreshMs: 0, originTimeoutMs: 400 });
  const g = grant();
  assert.equal((await rawGet(url, mediaPath(g, 'aac_128/1.m4s'))).status, 200);
  assert.equal((await rawGet(url, mediaPath(g, 'aac_128/playlist.m3u8'))).status, 200);
  await stack.stopOrigin();
  try {
    const seg = await rawGet(url, mediaPath(g, 'aac_128/1.m4s'));
    assert.equal(seg.status, 200);
    assert.equal(seg.headers['x-cache'], 'HIT');
    const manifest = await rawGet(url, mediaPath(g, 'aac_128/playlist.m3u8'));
    assert.equal(manifest.status, 200);
    assert.equal(manifest.headers['x-cache'], 'STALE');
    assert.match(manifest.headers.age ?? '', /^\d+$/, 'a stale copy says how old it is');
    assert.equal(manifest.body.toString(), files.get(`tracks/${track}/v1/aac_128/playlist.m3u8`)!.toString());
    const cold = await rawGet(url, mediaPath(g, 'aac_128/6.m4s'));
    assert.equal(cold.status, 502, 'nothing cached and no origin: a clear 502');
    assert.equal(JSON.parse(cold.body.toString()).code, 'bad_gateway');
  } finally {
    await stack.startOrigin();
  }

  // A slow origin: a proxy that accepts connections and never answers.
  const sockets = new Set<import('node:net').Socket>();
  const tarpit = http.createServer(() => undefined);
  tarpit.on('connection', (s) => sockets.add(s));
  await new Promise<void>((r) => tarpit.listen(0, '127.0.0.1', r));
  try {
    const slow = await stack.startEdge({ prefetchSegments: 0, originTimeoutMs: 300, originUrl: urlOf(tarpit) });
    const t0 = Date.now();
    const answers = await Promise.all(Array.from({ length: 20 }, () => rawGet(slow.url, mediaPath(g, 'aac_128/5.m4s'))));
    const waited = Date.now() - t0;
    assert.ok(answers.every((a) => a.status === 504 && JSON.parse(a.body.toString()).code === 'timeout'));
    assert.ok(waited < 20_000, `clients were answered after ${waited} ms, bounded by the origin timeout`);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise((r) => tarpit.close(r));
  }
});

test('origin link cut mid-body: no truncated copy is served or cached; coalesced clients get 502; the next request gets it whole', async () => {
  const body = randomBytes(300_000);
  const file = 'flac_1411/9.m4s';
  await putObject(stack.objects, `tracks/${track}/v1/${file}`, body);
  // Between edge and the real origin: while `cutAfter` is set, a connection is closed after that many
  // bytes of the origin's answer (a crash or a network cut in the middle of a body).
  let cutAfter: number | null = 100_000;
  const links = new Set<net.Socket>();
  const proxy = net.createServer((client) => {
    const limit = cutAfter;
    const originPort = Number(new URL(stack.originUrl).port);
    const up = net.connect(originPort, '127.0.0.1');
    links.add(client).add(up);
    let sent = 0;
    client.on('data', (c) => up.write(c));
    up.on('data', (c: Buffer) => {
      if (limit !== null && sent + c.length >= limit) {
        client.end(c.subarray(0, limit - sent));
        client.destroy();
        up.destroy();
        return;
      }
      sent += c.length;
      client.write(c);
    });
    for (const [a, b] of [[client, up], [up, client]]) {
      a.on('error', () => b.destroy());
      a.on('close', () => b.destroy());
    }
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  try {
    const { url, edge } = await stack.startEdge({ prefetchSegments: 0, originUrl: urlOf(proxy as unknown as http.Server) });
    const g = grant();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 20 });
    const cut = await Promise.all(Array.from({ length: 20 }, () => rawGet(url, mediaPath(g, file), {}, 'GET', agent)));
    agent.destroy();
    assert.deepEqual(
      cut.map((r) => r.status),
      Array(20).fill(502),
      'every client waiting on the cut fetch gets a 502, none a short 200',
    );
    assert.equal(JSON.parse(cut[0].body.toString()).code, 'bad_gateway');
    assert.equal(edge.stats().cacheEntries, 0, 'nothing cached from a cut body');

    cutAfter = null;
    const whole = await rawGet(url, mediaPath(g, file));
    assert.equal(whole.status, 200);
    assert.equal(whole.headers['x-cache'], 'MISS', 'fetched again, not served from a partial copy');
    assert.ok(whole.body.equals(body));
    const hit = await rawGet(url, mediaPath(g, file));
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.ok(hit.body.equals(body));
  } finally {
    for (const s of links) s.destroy();
    await new Promise((r) => proxy.close(r));
  }
});

test('stale-if-error: a manifest past its revalidation window is still served when the origin fails', async () => {
  // Manifests that expire at once with no stale-while-revalidate window: every request must revalidate.
  await stack.stopOrigin();
  await stack.startOrigin({ manifestCacheControl: 'public, max-age=0' });
  try {
    const { url } = await stack.startEdge({ prefetchSegments: 0 });
    const g = grant();
    const first = await rawGet(url, mediaPath(g, 'opus_96/playlist.m3u8'));
    assert.equal(first.headers['x-cache'], 'MISS');
    const before = await originRequests();
    const again = await rawGet(url, mediaPath(g, 'opus_96/playlist.m3u8'));
    assert.equal(again.headers['x-cache'], 'MISS', 'revalidated (304) with the origin');
    assert.equal(await originRequests(), before + 1);
    await stack.stopOrigin();
    const stale = await rawGet(url, mediaPath(g, 'opus_96/playlist.m3u8'));
    assert.equal(stale.status, 200);
    assert.equal(stale.headers['x-cache'], 'STALE');
    assert.deepEqual(stale.body, first.body);
  } finally {
    await stack.stopOrigin().catch(() => undefined);
    await stack.startOrigin();
  }
});

test('disk tier: a restarted edge serves from disk without asking the origin, and expired copies when it is down', async () => {
  const diskCacheDir = path.join(stack.dir, 'edge-disk');
  const first = await stack.startEdge({ prefetchSegments: 0, diskCacheDir, maxManifestFreshMs: 0 });
  const file = 'aac_128/2.m4s';
  const manifest = 'aac_128/playlist.m3u8';
  assert.equal((await rawGet(first.url, mediaPath(grant(), file))).headers['x-cache'], 'MISS');
  assert.equal((await rawGet(first.url, mediaPath(grant(), manifest))).headers['x-cache'], 'MISS');
  await until(async () => (await fs.readdir(diskCacheDir, { recursive: true })).filter((n) => String(n).endsWith('.json')).length === 2, 'the disk writes');
  await first.edge.close();
  const before = await originRequests();
  const second = await stack.startEdge({ prefetchSegments: 0, diskCacheDir });
  const r = await rawGet(second.url, mediaPath(grant(), file));
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-cache'], 'HIT');
  assert.deepEqual(r.body, files.get(`tracks/${track}/v1/${file}`));
  assert.equal(await originRequests(), before);
  await second.edge.close();

  // Restart again with the origin down: the expired manifest on disk is served STALE, not a 502.
  await stack.stopOrigin();
  try {
    const third = await stack.startEdge({ prefetchSegments: 0, diskCacheDir });
    const m = await rawGet(third.url, mediaPath(grant(), manifest));
    assert.equal(m.status, 200);
    assert.equal(m.headers['x-cache'], 'STALE');
    assert.deepEqual(m.body, files.get(`tracks/${track}/v1/${manifest}`));
  } finally {
    await stack.startOrigin();
  }
});

test('tiered cache: children forward misses to the parent that owns the key; the origin sees one fetch', async () => {
  const parent = await stack.startEdge({ prefetchSegments: 0 });
  const c1 = await stack.startEdge({ prefetchSegments: 0, parents: [parent.url] });
  const c2 = await stack.startEdge({ prefetchSegments: 0, parents: [parent.url] });
  const file = 'opus_96/5.m4s';
  const before = await originRequests();
  const a = await rawGet(c1.url, mediaPath(grant(), file));
  const b = await rawGet(c2.url, mediaPath(grant(), file));
  assert.equal(a.status, 200);
  assert.equal(b.status, 200);
  assert.equal(a.headers['x-cache'], 'MISS');
  assert.equal(b.headers['x-cache'], 'MISS');
  assert.equal(await originRequests(), before + 1);
  assert.equal(c1.edge.stats().parentFetches, 1);
  assert.equal(parent.edge.stats().hits, 1);
  // The parent's internal path needs the edge credential.
  assert.equal((await rawGet(parent.url, `/_edge/tracks/${track}/v1/${file}`)).status, 403);
  // Parent down: children fall back to the origin.
  await parent.edge.close();
  const c = await rawGet(c1.url, mediaPath(grant(), 'opus_96/6.m4s'));
  assert.equal(c.status, 200);
});

test('Age: a copy reports how long it has been cached, here and at the parent it came from (RFC 9111 5.1)', async () => {
  const parent = await stack.startEdge({ prefetchSegments: 0 });
  const c1 = await stack.startEdge({ prefetchSegments: 0, parents: [parent.url] });
  const c2 = await stack.startEdge({ prefetchSegments: 0, parents: [parent.url] });
  const file = 'opus_96/2.m4s';
  const first = await rawGet(c1.url, mediaPath(grant(), file));
  assert.equal(first.headers['x-cache'], 'MISS');
  assert.equal(first.headers.age, '0', 'fresh from the origin');
  await new Promise((r) => setTimeout(r, 1200));
  const hit = await rawGet(c1.url, mediaPath(grant(), file));
  assert.equal(hit.headers['x-cache'], 'HIT');
  assert.ok(Number(hit.headers.age) >= 1 && Number(hit.headers.age) <= 3, `age after ~1.2 s in cache: ${hit.headers.age}`);
  // A second child has never seen it: a MISS for that child, but the copy it got from the parent is
  // already ~1 s old, and says so.
  const viaParent = await rawGet(c2.url, mediaPath(grant(), file));
  assert.equal(viaParent.headers['x-cache'], 'MISS');
  assert.ok(Number(viaParent.headers.age) >= 1, `age carried from the parent: ${viaParent.headers.age}`);
  // Range and 304 answers carry it too.
  const part = await rawGet(c1.url, mediaPath(grant(), file), { range: 'bytes=0-99' });
  assert.equal(part.status, 206);
  assert.match(part.headers.age ?? '', /^\d+$/);
  const notModified = await rawGet(c1.url, mediaPath(grant(), file), { 'if-none-match': hit.headers.etag! });
  assert.equal(notModified.status, 304);
  assert.match(notModified.headers.age ?? '', /^\d+$/);
});

test('CMCD keys land in the access log; metrics expose hit ratio, bytes and origin fetches', async () => {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l));
      cb();
    },
  });
  const registry = createMetricsRegistry('edge');
  const edge = createEdgeServer({
    config: stack.config, logger: pino({ level: 'info' }, sink), metrics: registry, signingKeys: stack.keys,
    edgeOriginSecret: stack.secret, originUrl: stack.originUrl, prefetchSegments: 0, accessLogSampleEvery: 1,
  });
  stack.edges.push(edge);
  const url = urlOf(await edge.listen(0, '127.0.0.1'));
  const cmcd = 'br=128,bl=3200,cid="album-1",d=4000,mtp=25400,nor="2.m4s",ot=a,sf=h,sid="6e2fb550",st=v,su,tb=320,v=1';
  await rawGet(url, `${mediaPath(grant(), 'aac_128/1.m4s')}?CMCD=${encodeURIComponent(cmcd)}`);
  await rawGet(url, mediaPath(grant(), 'aac_128/1.m4s'), { 'cmcd-request': 'bl=1500,mtp=9000', 'cmcd-object': 'br=128,d=4000,ot=a', 'cmcd-session': 'cid="album-1",sid="6e2fb550",sf=h,st=v', 'cmcd-status': 'bs' });
  await until(() => lines.filter((l) => l.msg === 'access').length === 2, 'two access lines');
  const [miss, hit] = lines.filter((l) => l.msg === 'access') as { cmcd: Record<string, unknown>; cache: string }[];
  assert.equal(miss.cache, 'MISS');
  assert.deepEqual(miss.cmcd, { br: 128, bl: 3200, cid: 'album-1', d: 4000, mtp: 25400, nor: '2.m4s', ot: 'a', sf: 'h', sid: '6e2fb550', st: 'v', su: true, tb: 320, v: 1 });
  assert.equal(hit.cache, 'HIT');
  assert.deepEqual(hit.cmcd, { bl: 1500, mtp: 9000, br: 128, d: 4000, ot: 'a', cid: 'album-1', sid: '6e2fb550', sf: 'h', st: 'v', bs: true });
  assert.ok(!JSON.stringify(lines).includes(grant().slice(0, 20)), 'grants are not logged');

  assert.equal(await metricValue(url, 'edge_cache_hit_ratio'), 0.5);
  assert.equal(await metricValue(url, 'edge_cache_requests_total', 'result="HIT"'), 1);
  assert.equal(await metricValue(url, 'edge_upstream_fetches_total', 'target="origin"'), 1);
  assert.equal(await metricValue(url, 'edge_bytes_served_total'), 2 * files.get(`tracks/${track}/v1/aac_128/1.m4s`)!.length);
  assert.ok((await metricValue(url, 'edge_request_duration_seconds_count', 'result="HIT"')) >= 1);
  assert.equal((await rawGet(url, '/healthz')).status, 200);
  const ready = await rawGet(url, '/readyz');
  assert.equal(ready.status, 200);
  assert.equal(JSON.parse(ready.body.toString()).checks.origin, 'ok');
});
