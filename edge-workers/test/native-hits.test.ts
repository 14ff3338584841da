/**
 * The native hit path (src/fast-path.ts, native/fastpath.c). It may answer only plain fresh hits whose
 * grant it verified itself, and misses JS loaded for it (parked); every other request, arriving on a connection it already served, must get
 * exactly node:http's answer (the connection is handed over with the bytes read so far), and nothing it
 * refuses may reach the origin. The head of a native hit equals writeHead's (zero-copy.test.ts).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { signGrant } from '@platform/grants';
import { createLogger } from '@platform/logging';
import { loadFastPath } from '@platform/edge-workers';
import { closing, exchange, metricValue, newTrackId, parseResponses, putObject, rawGet, request, startStack, type Stack } from './harness';

let stack: Stack;
const track = newTrackId();
const other = newTrackId();
const bodies = new Map<string, Buffer>();

before(async () => {
  stack = await startStack();
  for (let i = 1; i <= 6; i++) bodies.set(`aac_128/${i}.m4s`, randomBytes(40_000 + i * 977));
  bodies.set('aac_128/playlist.m3u8', Buffer.from('#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:4\n'));
  for (const [file, body] of bodies) await putObject(stack.objects, `tracks/${track}/v1/${file}`, body);
  await putObject(stack.objects, `tracks/${other}/v1/aac_128/1.m4s`, randomBytes(30_000));
});
after(() => stack.close());

const grant = (opts: { trackId?: string; exp?: number; sid?: string; key?: number } = {}) =>
  signGrant(stack.keys[opts.key ?? 0], { trackId: opts.trackId ?? track, version: 1, exp: opts.exp ?? Date.now() + 3600_000, sid: opts.sid });
const pathOf = (g: string, file: string, trackId = track) => `/g/${g}/tracks/${trackId}/v1/${file}`;
const originRequests = () => metricValue(stack.originUrl, 'origin_requests_total');
/** One keep-alive request on a new connection (a closing one would be node's: the native path answers keep-alive only), its response. */
const one = async (url: string, path: string) => parseResponses(await exchange(url, request(path), Infinity, { endAfterMs: 300 }), ['GET'])[0];

test('the addon builds and loads here (otherwise the tests below would only cover node:http)', () => {
  const { addon, reason } = loadFastPath();
  assert.ok(addon, `native hit path unavailable: ${reason}`);
});

test('fresh hits on a new connection are answered natively, counted as hits, in the metrics and the latency histogram', async () => {
  const { url, edge } = await stack.startEdge({ prefetchSegments: 0 });
  const g = grant();
  for (const f of ['aac_128/1.m4s', 'aac_128/playlist.m3u8']) assert.equal((await rawGet(url, pathOf(g, f))).headers['x-cache'], 'MISS');
  const histBefore = await metricValue(url, 'edge_request_duration_seconds_count', 'result="HIT"');
  // After the metrics request: it is not a media request, so its (kept-alive, native) connection went to node:http.
  const s0 = edge.stats();
  const data = await exchange(url, [1, 2, 3].map(() => request(pathOf(g, 'aac_128/1.m4s'))).join('') + request(pathOf(g, 'aac_128/playlist.m3u8')), Infinity, { endAfterMs: 500 });
  const rs = parseResponses(data, ['GET', 'GET', 'GET', 'GET']);
  for (const r of rs.slice(0, 3)) {
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-cache'], 'HIT');
    assert.ok(r.body.equals(bodies.get('aac_128/1.m4s')!));
  }
  assert.ok(rs[3].body.equals(bodies.get('aac_128/playlist.m3u8')!), 'a small object (no memfd) from the native copy');
  const s1 = edge.stats();
  assert.equal(s1.nativeHits - s0.nativeHits, 4);
  assert.equal(s1.hits - s0.hits, 4, 'native hits are hits');
  assert.equal(s1.nativeHandoffs, s0.nativeHandoffs, 'no handoff');
  assert.equal(await metricValue(url, 'edge_native_hits_total'), s1.nativeHits);
  assert.equal(await metricValue(url, 'edge_cache_requests_total', 'result="HIT"'), s1.hits);
  assert.equal((await metricValue(url, 'edge_request_duration_seconds_count', 'result="HIT"')) - histBefore, 4);
});

test('a miss on a native connection waits there for its load (no handoff): MISS from one origin fetch, then HIT, on the same connection', async () => {
  const { url, edge } = await stack.startEdge({ prefetchSegments: 0 });
  const g = grant();
  const [a, b] = ['aac_128/5.m4s', 'aac_128/6.m4s'];
  const s0 = edge.stats();
  const fetches0 = await originRequests();
  const data = await exchange(url, request(pathOf(g, a)) + request(pathOf(g, a)) + request(pathOf(g, b)) + request(pathOf(g, b)), Infinity, { endAfterMs: 500 });
  const rs = parseResponses(data, ['GET', 'GET', 'GET', 'GET']);
  assert.deepEqual(rs.map((r) => `${r.status} ${r.headers['x-cache']}`), ['200 MISS', '200 HIT', '200 MISS', '200 HIT']);
  for (const [i, f] of [a, a, b, b].entries()) assert.ok(rs[i].body.equals(bodies.get(f)!), `response ${i}`);
  // A parked MISS has the head node:http gives a MISS: the HIT's fields, x-cache aside.
  for (const h of ['content-type', 'content-length', 'etag', 'last-modified', 'cache-control', 'accept-ranges', 'access-control-allow-origin', 'date', 'age', 'keep-alive']) {
    assert.ok(rs[0].headers[h] !== undefined, h);
    if (!['date', 'age'].includes(h)) assert.equal(rs[0].headers[h], rs[1].headers[h], h);
  }
  const s1 = edge.stats();
  assert.equal(s1.nativeHandoffs, s0.nativeHandoffs, 'no handoff');
  assert.equal(s1.misses - s0.misses, 2, 'counted as misses');
  assert.equal(s1.nativeHits - s0.nativeHits, 2, 'the repeats were native hits');
  assert.equal((await originRequests()) - fetches0, 2, 'one origin fetch per object');
  assert.equal(await metricValue(url, 'edge_request_duration_seconds_count', 'result="MISS"'), 2);
  const native = await metricValue(url, 'edge_native_parked_total');
  assert.equal(native, 2, 'two parked requests');
});

test('a parked miss with If-None-Match equal to the ETag it loads is a 304 MISS, natively', async () => {
  const seg = 'aac_128/2.m4s';
  const g = grant();
  const warm = await stack.startEdge({ prefetchSegments: 0 });
  const etag = (await one(warm.url, pathOf(g, seg))).headers.etag;
  const { url, edge } = await stack.startEdge({ prefetchSegments: 0 });
  const [nm] = parseResponses(await exchange(url, request(pathOf(g, seg), `If-None-Match: ${etag}\r\n`), Infinity, { endAfterMs: 300 }), ['GET']);
  assert.equal(nm.status, 304);
  assert.equal(nm.headers['x-cache'], 'MISS');
  assert.equal(nm.headers.etag, etag);
  assert.equal(nm.body.length, 0);
  assert.equal(edge.stats().nativeHandoffs, 0, 'answered natively');
  assert.equal(edge.stats().misses, 1);
});

test('a parked miss that is not a plain answer gets node:http\'s answer: forged grant 403 (origin untouched), unknown object 404 (one fetch, then remembered)', async () => {
  const { url, edge } = await stack.startEdge({ prefetchSegments: 0 });
  const g = grant();
  const forged = g.slice(0, -3) + (g.endsWith('AAA') ? 'BBB' : 'AAA');
  const fetches0 = await originRequests();
  // Keep-alive requests (a closing one would go to node:http before the cache lookup).
  const [refused] = parseResponses(await exchange(url, request(pathOf(forged, 'aac_128/1.m4s')), Infinity, { endAfterMs: 300 }), ['GET']);
  assert.equal(refused.status, 403);
  assert.equal(refused.headers['content-type'], 'application/problem+json');
  assert.equal((await originRequests()) - fetches0, 0, 'a forged grant costs the origin nothing');
  const data = await exchange(url, request(pathOf(g, 'aac_128/99.m4s')) + request(pathOf(g, 'aac_128/99.m4s')), Infinity, { endAfterMs: 300 });
  const rs = parseResponses(data, ['GET', 'GET']);
  assert.deepEqual(rs.map((r) => r.status), [404, 404]);
  assert.equal((await originRequests()) - fetches0, 1, 'one origin request for the unknown object');
  assert.equal(edge.stats().nativeHandoffs, 2, 'both connections went to node:http at their parked request');
  assert.equal(await metricValue(url, 'edge_native_handoffs_total', 'reason="miss"'), 2);
});

test('a parked miss whose origin fails gets a 502 from one upstream attempt (node:http answers it without fetching again)', async () => {
  const dead = net.createServer();
  await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
  const port = (dead.address() as net.AddressInfo).port;
  await new Promise((r) => dead.close(r));
  const { url, edge } = await stack.startEdge({ prefetchSegments: 0, originUrl: `http://127.0.0.1:${port}` });
  const [r] = parseResponses(await exchange(url, request(pathOf(grant(), 'aac_128/1.m4s')), Infinity, { endAfterMs: 300 }), ['GET']);
  assert.equal(r.status, 502);
  assert.equal(r.headers['content-type'], 'application/problem+json');
  assert.equal(edge.stats().originFetches, 1, 'one upstream attempt, not one per path');
});

test('a client that leaves while its miss is parked: its connection closes, the object is cached all the same', async () => {
  const slow = await slowOrigin(400);
  try {
    const { url, edge } = await stack.startEdge({ prefetchSegments: 0, originUrl: slow.url });
    const g = grant();
    const u = new URL(url);
    const socket = net.connect(Number(u.port), u.hostname);
    await new Promise((r) => socket.once('connect', r));
    socket.write(request(pathOf(g, 'aac_128/4.m4s')));
    for (let i = 0; i < 50 && (await metricValue(url, 'edge_native_parked')) < 1; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(await metricValue(url, 'edge_native_parked'), 1, 'parked while the origin answers');
    socket.destroy();
    for (let i = 0; i < 100 && (await metricValue(url, 'edge_native_parked')) > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(await metricValue(url, 'edge_native_parked'), 0, 'closed when its client left');
    for (let i = 0; i < 100 && edge.stats().cacheEntries < 1; i++) await new Promise((r) => setTimeout(r, 20));
    const hit = await one(url, pathOf(g, 'aac_128/4.m4s'));
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.ok(hit.body.equals(bodies.get('aac_128/4.m4s')!));
  } finally {
    slow.server.close();
  }
});

test('close() while a miss is parked: the request is answered, then the edge stops', async () => {
  const slow = await slowOrigin(400);
  try {
    const { url } = await stack.startEdge({ prefetchSegments: 0, originUrl: slow.url });
    const edge = stack.edges[stack.edges.length - 1];
    const seg = 'aac_128/5.m4s';
    const pending = exchange(url, request(pathOf(grant(), seg)), Infinity, { endAfterMs: 1500 });
    for (let i = 0; i < 50 && (await metricValue(url, 'edge_native_parked')) < 1; i++) await new Promise((r) => setTimeout(r, 10));
    const closed = edge.close();
    const [r] = parseResponses(await pending, ['GET']);
    // Loaded after close(): the closing native path registers nothing new, so node:http answers it from the cache.
    assert.equal(r.status, 200);
    assert.ok(r.body.equals(bodies.get(seg)!));
    assert.equal(edge.stats().originFetches, 1);
    await closed;
  } finally {
    slow.server.close();
  }
});

/** The stack's origin `ms` away: a TCP forwarder that waits that long before it connects. */
async function slowOrigin(ms: number): Promise<{ server: net.Server; url: string }> {
  const target = new URL(stack.originUrl);
  const server = net.createServer((client) => {
    client.on('error', () => undefined);
    setTimeout(() => {
      const up = net.connect(Number(target.port), target.hostname);
      up.on('error', () => client.destroy());
      client.pipe(up).pipe(client);
    }, ms);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}` };
}

test('a request split across several packets is assembled and served natively', async () => {
  const { url, edge } = await stack.startEdge({ prefetchSegments: 0 });
  const g = grant();
  await rawGet(url, pathOf(g, 'aac_128/2.m4s'));
  const before = edge.stats().nativeHits;
  const raw = request(pathOf(g, 'aac_128/2.m4s'), 'Connection: keep-alive\r\n');
  const u = new URL(url);
  const data = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect(Number(u.port), u.hostname, async () => {
      for (const part of [raw.slice(0, 7), raw.slice(7, 60), raw.slice(60, -2), raw.slice(-2)]) {
        s.write(part);
        await new Promise((r) => setTimeout(r, 30));
      }
    });
    let got = 0;
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (got >= bodies.get('aac_128/2.m4s')!.length) setTimeout(() => s.end(), 50);
    });
    s.on('close', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
  });
  const [r] = parseResponses(data, ['GET']);
  assert.equal(r.status, 200);
  assert.ok(r.body.equals(bodies.get('aac_128/2.m4s')!));
  assert.equal(edge.stats().nativeHits - before, 1);
});

test('after native hits on one connection, every other kind of request gets node:http\'s answer on that same connection, and refusals never reach the origin', async () => {
  const { url, edge } = await stack.startEdge({ prefetchSegments: 0 });
  const g = grant();
  const seg = 'aac_128/3.m4s';
  const body = bodies.get(seg)!;
  await rawGet(url, pathOf(g, seg));
  const etag = (await rawGet(url, pathOf(g, seg))).headers.etag!;
  const forged = g.slice(0, -3) + (g.endsWith('AAA') ? 'BBB' : 'AAA');
  const cases: { name: string; raw: string; method?: string; status: number; check?: (r: { headers: Record<string, string>; body: Buffer }) => void }[] = [
    { name: 'tampered signature', raw: request(pathOf(forged, seg)), status: 403 },
    { name: 'expired grant', raw: request(pathOf(grant({ exp: Date.now() - 1000 }), seg)), status: 403 },
    { name: "another track's grant", raw: request(pathOf(grant({ trackId: other }), seg)), status: 403 },
    { name: 'unknown key id', raw: request(pathOf(signGrant({ kid: 'nope', secret: 'x'.repeat(32) }, { trackId: track, version: 1, exp: Date.now() + 60_000 }), seg)), status: 403 },
    { name: 'traversal', raw: request(`/g/${g}/tracks/${track}/v1/../v1/${seg}`), status: 400 },
    { name: 'encoded traversal', raw: request(`/g/${g}/tracks/${track}/v1/%2e%2e/v1/${seg}`), status: 400 },
    { name: 'absurdly long URL', raw: request(pathOf(g, seg) + '?' + 'x'.repeat(3000)), status: 400 },
    { name: 'missing grant', raw: request(`/tracks/${track}/v1/${seg}`), status: 403 },
    { name: 'Range', raw: request(pathOf(g, seg), 'Range: bytes=10-19\r\n'), status: 206, check: (r) => assert.ok(r.body.equals(body.subarray(10, 20))) },
    { name: 'If-None-Match, weak form', raw: request(pathOf(g, seg), `If-None-Match: W/${etag}\r\n`), status: 304 },
    { name: 'If-None-Match, a list', raw: request(pathOf(g, seg), `If-None-Match: "x", ${etag}\r\n`), status: 304 },
    { name: 'HEAD', raw: request(pathOf(g, seg), '', 'HEAD'), method: 'HEAD', status: 200, check: (r) => assert.equal(r.headers['content-length'], String(body.length)) },
    { name: 'OPTIONS preflight', raw: request(pathOf(g, seg), 'Origin: https://app.example\r\nAccess-Control-Request-Method: GET\r\n', 'OPTIONS'), method: 'HEAD', status: 204 },
    { name: 'a cold object (miss)', raw: request(pathOf(g, 'aac_128/4.m4s')), status: 200, check: (r) => assert.equal(r.headers['x-cache'], 'MISS') },
    { name: 'health probe', raw: request('/healthz'), status: 200 },
    { name: 'a header block larger than the native buffer', raw: request(pathOf(g, seg), `Cookie: pad=${'c'.repeat(6000)}\r\n`), status: 200, check: (r) => assert.ok(r.body.equals(body)) },
    { name: 'POST', raw: `POST ${pathOf(g, seg)} HTTP/1.1\r\nHost: edge\r\nContent-Length: 5\r\n\r\nhello`, status: 405 },
  ];
  const fetchesBefore = await originRequests();
  for (const c of cases) {
    const hitsBefore = edge.stats().nativeHits;
    const handoffsBefore = edge.stats().nativeHandoffs;
    const data = await exchange(url, closing([request(pathOf(g, seg)), c.raw, request(pathOf(g, seg))]), Infinity);
    const [first, r, last] = parseResponses(data, ['GET', c.method ?? 'GET', 'GET']);
    assert.equal(first.headers['x-cache'], 'HIT', c.name);
    assert.ok(first.body.equals(body), c.name);
    assert.equal(r.status, c.status, `${c.name}: ${r.body.toString().slice(0, 200)}`);
    if (r.status >= 400) assert.equal(r.headers['content-type'], 'application/problem+json', c.name);
    c.check?.(r);
    assert.equal(last.status, 200, `${c.name}: the connection goes on after it`);
    assert.ok(last.body.equals(body), c.name);
    assert.equal(edge.stats().nativeHits - hitsBefore, 1, `${c.name}: only the first request was native`);
    assert.equal(edge.stats().nativeHandoffs - handoffsBefore, 1, `${c.name}: one handoff`);
  }
  // Only the cold object went upstream.
  assert.equal((await originRequests()) - fetchesBefore, 1, 'refused requests never reached the origin');
});

test('a key removed from MEDIA_SIGNING_KEYS: its grants are refused on native connections too', async () => {
  const { url, edge } = await stack.startEdge({ prefetchSegments: 0, signingKeys: [stack.keys[0]] });
  const seg = 'aac_128/1.m4s';
  assert.equal((await rawGet(url, pathOf(grant(), seg))).status, 200);
  const old = grant({ key: 1 });
  const data = await exchange(url, closing([request(pathOf(grant(), seg)), request(pathOf(old, seg))]), Infinity);
  const [hit, refused] = parseResponses(data, ['GET', 'GET']);
  assert.equal(hit.status, 200);
  assert.equal(refused.status, 403);
  assert.match(refused.body.toString(), /key this edge does not know/);
  assert.ok(edge.stats().nativeHits >= 1);
});

test('a grant that expires while its connection is open is refused at the next request', async () => {
  const { url, edge } = await stack.startEdge({ prefetchSegments: 0 });
  const seg = 'aac_128/5.m4s';
  const short = grant({ exp: Date.now() + 1500 });
  assert.equal((await rawGet(url, pathOf(grant(), seg))).status, 200);
  const u = new URL(url);
  const socket = net.connect(Number(u.port), u.hostname);
  const read = (n: number) =>
    new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      let got = 0;
      const on = (c: Buffer) => {
        chunks.push(c);
        got += c.length;
        const all = Buffer.concat(chunks);
        const end = all.indexOf('\r\n\r\n');
        if (end > 0) {
          const len = Number(/content-length: (\d+)/i.exec(all.subarray(0, end).toString())?.[1] ?? 0);
          if (got >= end + 4 + len || got >= n) {
            socket.off('data', on);
            resolve(all);
          }
        }
      };
      socket.on('data', on);
    });
  await new Promise((r) => socket.once('connect', r));
  const before = edge.stats().nativeHits;
  socket.write(request(pathOf(short, seg)));
  const [ok] = parseResponses(await read(Infinity), ['GET']);
  assert.equal(ok.status, 200);
  assert.equal(edge.stats().nativeHits - before, 1);
  // Expiry has one-second precision, rounded up: at most 2.5 s from now.
  await new Promise((r) => setTimeout(r, 2600));
  socket.write(request(pathOf(short, seg)));
  const [late] = parseResponses(await read(Infinity), ['GET']);
  socket.destroy();
  assert.equal(late.status, 403);
  assert.match(late.body.toString(), /expired/);
});

test('session-bound grants: the right sid cookie is served natively, another sid is refused, none is refused when binding is required', async () => {
  const seg = 'aac_128/6.m4s';
  const bound = grant({ sid: 'session-1' });
  const { url, edge } = await stack.startEdge({ prefetchSegments: 0 });
  assert.equal((await rawGet(url, pathOf(bound, seg), { cookie: 'sid=session-1' })).status, 200);
  const before = edge.stats().nativeHits;
  const data = await exchange(url, closing([
    request(pathOf(bound, seg), 'Cookie: theme=dark; sid=session-1\r\n'),
    request(pathOf(bound, seg), 'Cookie: sid=session-2\r\n'),
  ]), Infinity);
  const [mine, theirs] = parseResponses(data, ['GET', 'GET']);
  assert.equal(mine.status, 200);
  assert.equal(theirs.status, 403);
  assert.match(theirs.body.toString(), /another session/);
  assert.equal(edge.stats().nativeHits - before, 1);

  const strict = await stack.startEdge({ prefetchSegments: 0, sessionBinding: 'required' });
  assert.equal((await rawGet(strict.url, pathOf(bound, seg), { cookie: 'sid=session-1' })).status, 200);
  const none = await one(strict.url, pathOf(bound, seg));
  assert.equal(none.status, 403);
});

test('purge and eviction reach the native path: a purged version is 410, an evicted object is fetched again', async () => {
  const seg = 'aac_128/1.m4s';
  const { url, edge } = await stack.startEdge({ prefetchSegments: 0 });
  const g = grant();
  await rawGet(url, pathOf(g, seg));
  const before = edge.stats().nativeHits;
  assert.equal((await one(url, pathOf(g, seg))).headers['x-cache'], 'HIT');
  assert.equal(edge.stats().nativeHits - before, 1);
  edge.purge({ trackId: track, beforeVersion: 2 });
  const gone = await one(url, pathOf(g, seg));
  assert.equal(gone.status, 410);

  // A cache that holds about one segment: each new object evicts the previous one, natively too.
  const small = await stack.startEdge({ prefetchSegments: 0, cacheBytes: 60_000 });
  await rawGet(small.url, pathOf(g, 'aac_128/2.m4s'));
  await rawGet(small.url, pathOf(g, 'aac_128/3.m4s'));
  const again = await one(small.url, pathOf(g, 'aac_128/2.m4s'));
  assert.equal(again.headers['x-cache'], 'MISS');
  assert.ok(again.body.equals(bodies.get('aac_128/2.m4s')!));
});

test('an expired manifest inside stale-while-revalidate is answered STALE natively and revalidated once in the background; then HIT again', async () => {
  const { url, edge } = await stack.startEdge({ prefetchSegments: 0, maxManifestFreshMs: 1000 });
  const g = grant();
  const m = 'aac_128/playlist.m3u8';
  await rawGet(url, pathOf(g, m));
  assert.equal((await one(url, pathOf(g, m))).headers['x-cache'], 'HIT');
  await new Promise((r) => setTimeout(r, 1100));
  const before = edge.stats();
  const data = await exchange(url, request(pathOf(g, m)) + request(pathOf(g, m)), Infinity, { endAfterMs: 300 });
  const rs = parseResponses(data, ['GET', 'GET']);
  for (const r of rs) {
    assert.equal(r.headers['x-cache'], 'STALE');
    assert.ok(r.body.equals(bodies.get(m)!));
  }
  const after1 = edge.stats();
  assert.equal(after1.nativeHits - before.nativeHits, 2, 'both answered natively');
  assert.equal(after1.stale - before.stale, 2);
  assert.equal(after1.nativeHandoffs, before.nativeHandoffs);
  for (let i = 0; i < 50 && edge.stats().originFetches === before.originFetches; i++) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(edge.stats().originFetches - before.originFetches, 1, 'one revalidation for the two STALE answers');
  assert.equal(await metricValue(url, 'edge_request_duration_seconds_count', 'result="STALE"'), 2);
  const handoffs = edge.stats().nativeHandoffs; // the metrics request's connection went to node:http
  // The revalidation lands (its fetch was counted when it started): then a fresh copy, answered natively.
  let fresh = await one(url, pathOf(g, m));
  for (let i = 0; i < 40 && fresh.headers['x-cache'] !== 'HIT'; i++) {
    await new Promise((r) => setTimeout(r, 25));
    fresh = await one(url, pathOf(g, m));
  }
  assert.equal(fresh.headers['x-cache'], 'HIT', 'revalidated: fresh again');
  assert.equal(edge.stats().nativeHandoffs, handoffs, 'and every answer was native');
});

test('If-None-Match equal to the ETag: a native 304 whose head is byte for byte the one node:http sends', async () => {
  const seg = 'aac_128/4.m4s';
  const g = grant();
  const heads: string[] = [];
  for (const fastPath of ['auto', 'off'] as const) {
    const { url, edge } = await stack.startEdge({ prefetchSegments: 0, fastPath });
    const etag = (await rawGet(url, pathOf(g, seg))).headers.etag!;
    const before = edge.stats();
    const data = await exchange(url, request(pathOf(g, seg), `If-None-Match: ${etag}\r\n`) + request(pathOf(g, seg), 'If-None-Match: "other"\r\n'), Infinity, { endAfterMs: 300 });
    const [nm, full] = parseResponses(data, ['GET', 'GET']);
    assert.equal(nm.status, 304);
    assert.equal(nm.body.length, 0);
    assert.equal(full.status, 200, 'another ETag gets the object');
    assert.ok(full.body.equals(bodies.get(seg)!));
    if (fastPath === 'auto') assert.equal(edge.stats().nativeHits - before.nativeHits, 2, 'both answered natively');
    heads.push(nm.head.replace(/^Date: .*$/m, 'Date: -').replace(/^age: \d+$/m, 'age: -'));
  }
  assert.equal(heads[0], heads[1]);
});

test('a native hit of a prefetched segment prefetches the ones after it; sampled native hits are in the access log with their CMCD', async () => {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      cb();
    },
  });
  const logger = createLogger({ name: 'edge-test', level: 'info' }, sink);
  const { url, edge } = await stack.startEdge({ prefetchSegments: 1, accessLogSampleEvery: 1, logger });
  const g = grant();
  await rawGet(url, pathOf(g, 'aac_128/1.m4s')); // MISS; prefetches 2
  for (let i = 0; i < 100 && edge.stats().cacheEntries < 2; i++) await new Promise((r) => setTimeout(r, 20));
  const fetches = edge.stats().originFetches;
  const before = edge.stats().nativeHits;
  const hit = await one(url, `${pathOf(g, 'aac_128/2.m4s')}?CMCD=${encodeURIComponent('br=128,ot=a,sid="s9"')}`);
  assert.equal(hit.headers['x-cache'], 'HIT');
  assert.equal(edge.stats().nativeHits - before, 1, 'the prefetched segment was a native hit');
  for (let i = 0; i < 50 && edge.stats().originFetches === fetches; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(edge.stats().originFetches, fetches + 1, 'and segment 3 was prefetched from it');
  const third = await one(url, pathOf(g, 'aac_128/3.m4s'));
  assert.equal(third.headers['x-cache'], 'HIT');
  const native = lines.find((l) => l.msg === 'access' && l.native === true && l.key === `tracks/${track}/v1/aac_128/2.m4s`);
  assert.ok(native, 'a sampled native hit is logged');
  assert.equal((native.cmcd as Record<string, unknown>).sid, 's9');
  assert.equal(native.cache, 'HIT');
  assert.ok(!JSON.stringify(lines).includes(g), 'no grant in the logs');
});

test('a CMCD nor hint on a native hit is answered natively and prefetches the object it names', async () => {
  const { url, edge } = await stack.startEdge({ prefetchSegments: 2 });
  const g = grant();
  await rawGet(url, pathOf(g, 'aac_128/5.m4s')); // MISS; prefetches 6 (numbering), nothing else
  for (let i = 0; i < 100 && edge.stats().cacheEntries < 2; i++) await new Promise((r) => setTimeout(r, 20));
  const before = edge.stats();
  const cmcd = encodeURIComponent('br=128,nor="1.m4s",ot=a,sid="s1"');
  const hit = await one(url, `${pathOf(g, 'aac_128/5.m4s')}?CMCD=${cmcd}`);
  assert.equal(hit.headers['x-cache'], 'HIT');
  const after = edge.stats();
  assert.equal(after.nativeHits - before.nativeHits, 1, 'answered natively');
  assert.equal(after.nativeHandoffs, before.nativeHandoffs, 'no handoff for the hint');
  for (let i = 0; i < 100 && edge.stats().cacheEntries < before.cacheEntries + 1; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal((await one(url, pathOf(g, 'aac_128/1.m4s'))).headers['x-cache'], 'HIT', 'the hinted object was prefetched');
  assert.equal(await metricValue(url, 'edge_native_handoffs_total'), 1, 'only the first (cold) connection went to node:http');
});

test('close(): idle native connections are closed, the edge stops', async () => {
  const { url, edge } = await stack.startEdge({ prefetchSegments: 0 });
  const g = grant();
  await rawGet(url, pathOf(g, 'aac_128/1.m4s'));
  // rawGet's kept-alive connection stays native after its miss.
  const held = edge.stats().nativeConnections;
  const u = new URL(url);
  const socket = net.connect(Number(u.port), u.hostname);
  await new Promise((r) => socket.once('connect', r));
  socket.write(request(pathOf(g, 'aac_128/1.m4s')));
  await new Promise((r) => socket.once('data', r));
  assert.equal(edge.stats().nativeConnections, held + 1);
  const closed = new Promise((r) => socket.once('close', r));
  socket.resume();
  await edge.close();
  await closed;
});

/** A raw connection that counts what arrives and notes when the server closed it. */
function openRaw(url: string) {
  const u = new URL(url);
  const socket = net.connect(Number(u.port), u.hostname);
  const chunks: Buffer[] = [];
  const state = { got: 0, closedAt: 0, keep: true };
  socket.on('data', (c: Buffer) => {
    state.got += c.length;
    if (state.keep) chunks.push(c);
  });
  socket.on('error', () => undefined);
  const closed = new Promise<number>((r) => socket.once('close', () => r((state.closedAt = Date.now()))));
  const opened = new Promise((r) => socket.once('connect', r));
  /** Bytes received so far, as one buffer (when kept). */
  const data = () => Buffer.concat(chunks);
  const until = async (ok: () => boolean, ms: number) => {
    for (const end = Date.now() + ms; !ok() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 5));
  };
  return { socket, state, closed, opened, data, until };
}

test('sendfile hits one at a time on one connection: each answer arrives whole at once (nothing of it is held back for a cork timer, 200 ms)', async () => {
  const { url, edge } = await stack.startEdge({ prefetchSegments: 0 });
  const g = grant();
  const file = 'aac_128/5.m4s';
  assert.equal((await rawGet(url, pathOf(g, file))).headers['x-cache'], 'MISS');
  const conn = openRaw(url);
  await conn.opened;
  const s0 = edge.stats();
  const waits: number[] = [];
  for (let i = 0; i < 8; i++) {
    const before = conn.state.got;
    const started = Date.now();
    conn.socket.write(request(pathOf(g, file)));
    await conn.until(() => conn.state.got - before > bodies.get(file)!.length && conn.data().subarray(-bodies.get(file)!.length).equals(bodies.get(file)!), 1000);
    waits.push(Date.now() - started);
  }
  conn.socket.destroy();
  assert.equal(edge.stats().nativeHits - s0.nativeHits, 8, 'answered natively');
  assert.ok(Math.max(...waits) < 150, `every answer within 150 ms, got ${waits.join(', ')} ms`);
  const rs = parseResponses(conn.data(), Array(8).fill('GET'));
  for (const r of rs) assert.ok(r.body.equals(bodies.get(file)!));
});

test('native timeouts: an idle keep-alive connection closes after keepAliveTimeoutMs, and a head trickled in byte by byte after headersTimeoutMs', async () => {
  const { url, edge } = await stack.startEdge({ prefetchSegments: 0, keepAliveTimeoutMs: 700, headersTimeoutMs: 400, requestTimeoutMs: 1000 });
  const g = grant();
  const file = 'aac_128/1.m4s';
  await rawGet(url, pathOf(g, file));
  const before = edge.stats();

  // Idle: two requests 300 ms apart keep it open (each answered natively), then it closes ~700 ms after the last.
  const a = openRaw(url);
  await a.opened;
  a.socket.write(request(pathOf(g, file)));
  await a.until(() => a.data().includes(bodies.get(file)!), 2000);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(a.state.closedAt, 0, 'open 300 ms after a response');
  a.socket.write(request(pathOf(g, file)));
  await a.until(() => a.data().lastIndexOf(bodies.get(file)!) > a.data().indexOf(bodies.get(file)!), 2000);
  const lastAnswer = Date.now();
  const [r1, r2] = parseResponses(a.data(), ['GET', 'GET']);
  assert.equal(r1.headers['x-cache'], 'HIT');
  assert.equal(r2.headers['keep-alive'], 'timeout=0', 'announced as node announces it (whole seconds, floored)');
  const idleFor = (await Promise.race([a.closed, new Promise<number>((r) => setTimeout(() => r(0), 3000))])) - lastAnswer;
  assert.ok(idleFor >= 600 && idleFor < 2000, `closed after ${idleFor} ms idle (keep-alive 700 ms)`);
  const mid = edge.stats();
  assert.equal(mid.nativeHits - before.nativeHits, 2, 'both answered natively');
  assert.equal(mid.nativeHandoffs, before.nativeHandoffs);

  // Slowloris: the head never completes; the connection is cut ~400 ms after its first byte, and nothing
  // reached node:http or the origin.
  const origin0 = await originRequests();
  const b = openRaw(url);
  await b.opened;
  const head = request(pathOf(g, file));
  const started = Date.now();
  for (let i = 0; i < head.length - 2 && b.state.closedAt === 0 && Date.now() - started < 3000; i++) {
    b.socket.write(head[i]);
    await new Promise((r) => setTimeout(r, 40));
  }
  const cutAfter = (await Promise.race([b.closed, new Promise<number>((r) => setTimeout(() => r(0), 3000))])) - started;
  assert.ok(cutAfter >= 350 && cutAfter < 1500, `cut ${cutAfter} ms after the first byte (headers timeout 400 ms)`);
  assert.equal(b.state.got, 0, 'no answer to a head that never completed');
  assert.equal(edge.stats().nativeHandoffs, before.nativeHandoffs, 'not handed to node:http');
  assert.equal(await originRequests(), origin0);
});

test('native request timeout: a slow reader keeps its connection while it reads; one that stops reading is cut off', async () => {
  // 48 MB: more than the kernel buffers (4 MB send, the receive window of a paused reader) can hold, so
  // the rest waits in the edge for the reader.
  const big = randomBytes(48 * 1024 * 1024);
  await putObject(stack.objects, `tracks/${track}/v1/flac/big.m4s`, big);
  const { url, edge } = await stack.startEdge({ prefetchSegments: 0, keepAliveTimeoutMs: 5000, headersTimeoutMs: 2000, requestTimeoutMs: 1000 });
  const g = grant();
  const path = pathOf(g, 'flac/big.m4s');
  assert.equal((await rawGet(url, path)).body.length, big.length);
  const before = edge.stats();

  // Slow: reads in short bursts 300 ms apart, for longer than the 1 s timeout in all.
  const slow = openRaw(url);
  slow.state.keep = false;
  await slow.opened;
  slow.socket.write(request(path));
  const t0 = Date.now();
  while (slow.state.got < big.length && slow.state.closedAt === 0 && Date.now() - t0 < 30_000) {
    slow.socket.pause();
    await new Promise((r) => setTimeout(r, 300));
    slow.socket.resume();
    await new Promise((r) => setTimeout(r, 2));
  }
  const took = Date.now() - t0;
  assert.equal(slow.state.closedAt, 0, 'still open');
  assert.ok(slow.state.got > big.length, `the whole response arrived (${slow.state.got} bytes in ${took} ms)`);
  assert.ok(took > 1000, `read slower than the timeout (${took} ms)`);
  slow.socket.destroy();

  // Stalled: nothing read for 2.5 s: the edge gives up on the response and closes; the reader then gets
  // what the kernel held, short of the whole body.
  const stalled = openRaw(url);
  stalled.state.keep = false;
  await stalled.opened;
  stalled.socket.pause();
  stalled.socket.write(request(path));
  await new Promise((r) => setTimeout(r, 2500));
  stalled.socket.resume();
  await Promise.race([stalled.closed, new Promise((r) => setTimeout(r, 5000))]);
  assert.ok(stalled.state.closedAt > 0, 'closed by the edge');
  assert.ok(stalled.state.got < big.length, `short of the body (${stalled.state.got} of ${big.length} bytes)`);
  const after = edge.stats();
  assert.equal(after.nativeHits - before.nativeHits, 2, 'both served natively');
  assert.equal(after.nativeHandoffs, before.nativeHandoffs);
});
