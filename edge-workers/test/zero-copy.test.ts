/**
 * Zero-copy hits (src/zero-copy.ts, native/zerocopy.c): cached bodies sent by sendfile from shared
 * memory must be byte-for-byte what the origin stored, in order, on keep-alive and pipelined
 * connections, with Range, for objects larger than a socket buffer read by a slow client, and the edge
 * must survive a client that leaves mid-body. The same requests with EDGE_ZERO_COPY=off are the control.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import fs from 'node:fs/promises';
import { readlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { signGrant } from '@platform/grants';
import { loadZeroCopy } from '@platform/edge-workers';
import { closing, exchange, metricValue, newTrackId, parseResponses, putObject, rawGet, request, startStack, type Parsed, type Stack } from './harness';

let stack: Stack;
const track = newTrackId();
const bodies = new Map<string, Buffer>();

before(async () => {
  stack = await startStack();
  // Segment-sized objects, one far larger than any loopback socket buffer, and a small manifest.
  for (let i = 1; i <= 6; i++) bodies.set(`aac_128/${i}.m4s`, randomBytes(90_000 + i * 1013));
  bodies.set('flac/1.m4s', randomBytes(24 * 1024 * 1024 + 17));
  bodies.set('aac_128/playlist.m3u8', Buffer.from('#EXTM3U\n#EXT-X-VERSION:6\n'));
  for (const [file, body] of bodies) await putObject(stack.objects, `tracks/${track}/v1/${file}`, body);
});
after(() => stack.close());

const grant = () => signGrant(stack.keys[0], { trackId: track, version: 1, exp: Date.now() + 3600_000 });
const pathOf = (g: string, file: string) => `/g/${g}/tracks/${track}/v1/${file}`;

test('the addon builds and loads here (otherwise every other test below would only cover the fallback)', () => {
  const { zc, reason } = loadZeroCopy();
  assert.ok(zc, `zero-copy unavailable: ${reason}`);
  assert.ok(zc.maxRegions >= 64);
});

test('the zero-copy store: locked unlinked files in the directory given (nothing left on disk), memfds for null, and memfds when the directory cannot hold them', async () => {
  const { zc } = loadZeroCopy();
  assert.ok(zc);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'zc-store-'));
  try {
    const body = randomBytes(100_000);
    assert.equal(zc.addon.setStore(dir), '');
    const before = zc.addon.stats();
    const inFile = zc.addon.share(body);
    assert.ok(inFile.buffer.equals(body));
    assert.equal(zc.addon.stats().fileRegions - before.fileRegions, 1);
    assert.match(readlinkSync(`/proc/self/fd/${inFile.fd}`), new RegExp(`^${dir}/.* \\(deleted\\)$`), 'an unlinked file in that directory');
    assert.deepEqual(await fs.readdir(dir), [], 'no name on disk: nothing to clean up after a crash');
    assert.match(zc.addon.setStore(path.join(dir, 'missing')), /O_TMPFILE/);
    assert.match(readlinkSync(`/proc/self/fd/${zc.addon.share(body).fd}`), /memfd:edge-object/, 'a directory that does not work: memfds');
    assert.equal(zc.addon.setStore(null), '');
    assert.match(readlinkSync(`/proc/self/fd/${zc.addon.share(body).fd}`), /memfd:edge-object/);
  } finally {
    zc.addon.setStore(os.tmpdir());
    await fs.rm(dir, { recursive: true, force: true });
  }
});

for (const mode of ['auto', 'off'] as const) {
  test(`EDGE_ZERO_COPY=${mode}: pipelined GET, Range, HEAD and 304 on one connection come back whole and in order`, async () => {
    const { url } = await stack.startEdge({ prefetchSegments: 0, zeroCopy: mode });
    const g = grant();
    const files = [...bodies.keys()].filter((f) => f !== 'flac/1.m4s');
    // Warm the cache (misses are served from the fetched Buffer; the hits below are what this is about).
    for (const f of files) assert.equal((await rawGet(url, pathOf(g, f))).status, 200);
    const etag = (await rawGet(url, pathOf(g, 'aac_128/2.m4s'))).headers.etag!;

    const plan: { raw: string; method: string; check: (r: Parsed) => void }[] = [];
    for (let round = 0; round < 3; round++) {
      for (const f of files) {
        plan.push({ raw: request(pathOf(g, f)), method: 'GET', check: (r) => { assert.equal(r.status, 200); assert.equal(r.headers['x-cache'], 'HIT'); assert.ok(r.body.equals(bodies.get(f)!), `${f} intact`); } });
      }
      plan.push({ raw: request(pathOf(g, 'aac_128/3.m4s'), 'Range: bytes=1000-70999\r\n'), method: 'GET', check: (r) => { assert.equal(r.status, 206); assert.ok(r.body.equals(bodies.get('aac_128/3.m4s')!.subarray(1000, 71000))); } });
      plan.push({ raw: request(pathOf(g, 'aac_128/4.m4s'), 'Range: bytes=-500\r\n'), method: 'GET', check: (r) => { const b = bodies.get('aac_128/4.m4s')!; assert.equal(r.status, 206); assert.ok(r.body.equals(b.subarray(b.length - 500))); } });
      plan.push({ raw: request(pathOf(g, 'aac_128/5.m4s'), '', 'HEAD'), method: 'HEAD', check: (r) => { assert.equal(r.status, 200); assert.equal(r.headers['content-length'], String(bodies.get('aac_128/5.m4s')!.length)); } });
      plan.push({ raw: request(pathOf(g, 'aac_128/2.m4s'), `If-None-Match: ${etag}\r\n`), method: 'GET', check: (r) => assert.equal(r.status, 304) });
    }
    const expected = plan.length;
    const sentBefore = await metricValue(url, 'edge_zero_copy_responses_total');
    const data = await exchange(url, closing(plan.map((p) => p.raw)), Infinity);
    const responses = parseResponses(data, plan.map((p) => p.method));
    assert.equal(responses.length, expected);
    responses.forEach((r, i) => plan[i].check(r));
    const sent = (await metricValue(url, 'edge_zero_copy_responses_total')) - sentBefore;
    if (mode === 'auto') assert.ok((await metricValue(url, 'edge_zero_copy_file_objects')) >= 6, 'segments in locked files (the default store)');
    if (mode === 'off') assert.equal(sent, 0, 'nothing goes by sendfile when it is off');
    // Segments (>= 16 KiB) whose socket had nothing queued: at least the first response of the batch,
    // and in practice most of them; manifests, HEAD and 304 never.
    else assert.ok(sent >= 1 && sent <= 6 * 3 + 2 * 3, `zero-copy responses: ${sent}`);
  });
}

for (const [mode, fastPath] of [['auto', 'off'], ['off', 'off'], ['auto', 'auto']] as const) {
  const who = fastPath === 'auto' ? 'the native hit path' : 'storeHitHead';
  test(`EDGE_ZERO_COPY=${mode} EDGE_FAST_PATH=${fastPath}: a HIT's head from ${who} is byte for byte the head writeHead makes; a closing connection still gets node's`, async () => {
    const { url, edge } = await stack.startEdge({ prefetchSegments: 0, zeroCopy: mode, fastPath });
    const counter = () => (fastPath === 'auto' ? edge.stats().nativeHits : edge.stats().prebuiltHeads);
    const g = grant();
    const f = 'aac_128/6.m4s';
    const before = counter();
    // A MISS (writeHead) on a keep-alive response, on a connection node:http holds (a HEAD first: the
    // native path would answer the MISS itself), another object closing it; then on a second connection
    // two keep-alive HITs (prebuilt) and a HIT for a request that asks to close (writeHead).
    const playlist = pathOf(g, 'aac_128/playlist.m3u8');
    const first = await exchange(url, closing([request(playlist, '', 'HEAD'), request(pathOf(g, f)), request(playlist)]), Infinity);
    const [, miss] = parseResponses(first, ['HEAD', 'GET', 'GET']);
    const data = await exchange(url, closing([request(pathOf(g, f)), request(pathOf(g, f)), request(pathOf(g, f))]), Infinity);
    const [hit, hit2, last] = parseResponses(data, ['GET', 'GET', 'GET']);
    for (const r of [miss, hit, hit2, last]) assert.ok(r.body.equals(bodies.get(f)!), 'body intact');
    assert.deepEqual([miss.headers['x-cache'], hit.headers['x-cache'], hit2.headers['x-cache'], last.headers['x-cache']], ['MISS', 'HIT', 'HIT', 'HIT']);
    const norm = (h: string) => h.replace(/^Date: .*$/m, 'Date: -').replace(/^age: \d+$/m, 'age: -').replace('x-cache: MISS', 'x-cache: HIT');
    assert.match(hit.head, /^Date: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$/m);
    assert.equal(norm(hit.head), norm(miss.head));
    assert.equal(hit2.head.replace(/^Date: .*$/m, '').replace(/^age: \d+$/m, ''), hit.head.replace(/^Date: .*$/m, '').replace(/^age: \d+$/m, ''));
    assert.match(hit.head, /^age: \d+$/m);
    assert.match(hit.head, /\r\nConnection: keep-alive\r\nKeep-Alive: timeout=\d+$/);
    assert.match(last.head, /\r\nConnection: close$/);
    assert.equal(counter() - before, 2, 'the two keep-alive HITs, not the MISS nor the closing one');
  });
}

test('HTTP/1.0 without keep-alive gets a closing head from node, not the prebuilt one', async () => {
  const { url, edge } = await stack.startEdge({ prefetchSegments: 0 });
  const g = grant();
  const f = 'aac_128/5.m4s';
  assert.equal((await rawGet(url, pathOf(g, f))).status, 200);
  const before = edge.stats().prebuiltHeads;
  const data = await exchange(url, `GET ${pathOf(g, f)} HTTP/1.0\r\nHost: edge\r\n\r\n`, Infinity);
  const [r] = parseResponses(data, ['GET']);
  assert.equal(r.headers['x-cache'], 'HIT');
  assert.ok(r.body.equals(bodies.get(f)!));
  assert.doesNotMatch(r.head, /keep-alive/i);
  assert.equal(edge.stats().prebuiltHeads, before);
});

test('an object far larger than the socket buffers, read by a slow client: sendfile stops short, node sends the rest, bytes intact', async () => {
  const { url, edge } = await stack.startEdge({ prefetchSegments: 0 });
  const g = grant();
  const body = bodies.get('flac/1.m4s')!;
  assert.equal((await rawGet(url, pathOf(g, 'flac/1.m4s'))).status, 200);
  const before = await metricValue(url, 'edge_zero_copy_responses_total');
  const data = await exchange(url, closing([request(pathOf(g, 'flac/1.m4s')), request(pathOf(g, 'aac_128/1.m4s'))]), Infinity, { pauseMs: 300 });
  const [big, small] = parseResponses(data, ['GET', 'GET']);
  assert.equal(big.status, 200);
  assert.ok(big.body.equals(body), 'the 24 MB body arrived whole and in order');
  assert.ok(small.body.equals(bodies.get('aac_128/1.m4s')!), 'and the pipelined response after it');
  assert.ok((await metricValue(url, 'edge_zero_copy_responses_total')) > before);
  assert.ok(edge.stats().zeroCopyPartial >= 1, 'the kernel took only part of the 24 MB body (the path under test)');
});

test('clients that leave mid-body do not hurt the edge or the next client', async () => {
  const { url } = await stack.startEdge({ prefetchSegments: 0 });
  const g = grant();
  assert.equal((await rawGet(url, pathOf(g, 'flac/1.m4s'))).status, 200);
  for (let i = 0; i < 20; i++) {
    const u = new URL(url);
    await new Promise<void>((resolve) => {
      const s = net.connect(Number(u.port), u.hostname, () => s.write(request(pathOf(g, 'flac/1.m4s'))));
      s.once('data', () => s.destroy());
      s.on('close', () => resolve());
      s.on('error', () => resolve());
    });
  }
  const r = await rawGet(url, pathOf(g, 'flac/1.m4s'));
  assert.equal(r.status, 200);
  assert.ok(r.body.equals(bodies.get('flac/1.m4s')!));
});
