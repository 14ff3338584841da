import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { EDGE_AUTH_HEADER } from '@platform/grants';
import { metricValue, newTrackId, rawGet, startStack, type Stack } from '../../edge-workers/test/harness';

let stack: Stack;
let files: Map<string, Buffer>;
const trackId = newTrackId();
let auth: Record<string, string>;

before(async () => {
  stack = await startStack();
  files = await (await import('../../edge-workers/test/harness')).writePackagedTrack(stack.objects, trackId, 1);
  auth = { [EDGE_AUTH_HEADER]: stack.secret };
});
after(() => stack.close());

const seg = () => `/tracks/${trackId}/v1/aac_128/2.m4s`;

test('a player without the edge credential gets 403, whatever it asks for', async () => {
  for (const p of [seg(), `/tracks/${trackId}/v1/master.m3u8`, '/tracks/../etc/passwd', '/anything']) {
    const r = await rawGet(stack.originUrl, p);
    assert.equal(r.status, 403, p);
    assert.equal(r.headers['content-type'], 'application/problem+json; charset=utf-8');
    assert.equal(JSON.parse(r.body.toString()).code, 'forbidden');
  }
  assert.equal((await rawGet(stack.originUrl, seg(), { [EDGE_AUTH_HEADER]: `${stack.secret}x` })).status, 403);
  assert.equal((await rawGet(stack.originUrl, '/healthz')).status, 200, 'probes stay open');
});

test('GET serves the object with type, validators, cache policy and CORS', async () => {
  const r = await rawGet(stack.originUrl, seg(), auth);
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, files.get(seg().slice(1)));
  assert.equal(r.headers['content-type'], 'audio/mp4');
  assert.equal(r.headers['cache-control'], 'public, max-age=31536000, immutable');
  assert.equal(r.headers['access-control-allow-origin'], '*');
  assert.equal(r.headers['accept-ranges'], 'bytes');
  assert.ok(r.headers.etag);

  const m = await rawGet(stack.originUrl, `/tracks/${trackId}/v1/master.m3u8`, auth);
  assert.equal(m.headers['content-type'], 'application/vnd.apple.mpegurl');
  assert.match(String(m.headers['cache-control']), /max-age=10\b/);
  const d = await rawGet(stack.originUrl, `/tracks/${trackId}/v1/manifest.mpd`, auth);
  assert.equal(d.headers['content-type'], 'application/dash+xml');
  const ts = await rawGet(stack.originUrl, `/tracks/${trackId}/v1/mp3_128/1.ts`, auth);
  assert.equal(ts.headers['content-type'], 'video/mp2t');
});

test('If-None-Match -> 304; HEAD -> headers only', async () => {
  const first = await rawGet(stack.originUrl, seg(), auth);
  const r = await rawGet(stack.originUrl, seg(), { ...auth, 'if-none-match': String(first.headers.etag) });
  assert.equal(r.status, 304);
  assert.equal(r.body.length, 0);
  const h = await rawGet(stack.originUrl, seg(), auth, 'HEAD');
  assert.equal(h.status, 200);
  assert.equal(h.headers['content-length'], String(files.get(seg().slice(1))!.length));
  assert.equal(h.body.length, 0);
});

test('Range -> 206 with the exact bytes; out of range -> 416', async () => {
  const whole = files.get(seg().slice(1))!;
  const r = await rawGet(stack.originUrl, seg(), { ...auth, range: 'bytes=100-199' });
  assert.equal(r.status, 206);
  assert.equal(r.headers['content-range'], `bytes 100-199/${whole.length}`);
  assert.deepEqual(r.body, whole.subarray(100, 200));
  const tail = await rawGet(stack.originUrl, seg(), { ...auth, range: 'bytes=-10' });
  assert.deepEqual(tail.body, whole.subarray(whole.length - 10));
  const bad = await rawGet(stack.originUrl, seg(), { ...auth, range: `bytes=${whole.length}-` });
  assert.equal(bad.status, 416);
  assert.equal(bad.headers['content-range'], `bytes */${whole.length}`);
});

test('no path escapes tracks/, even for an edge', async () => {
  for (const p of [
    `/tracks/${trackId}/v1/../../../objects/x.m4s`, `/tracks/${trackId}/v1/%2e%2e/%2e%2e/x.m4s`, `/tracks/${trackId}/v1/%252e%252e/x.m4s`,
    `/tracks/${trackId}/v1/..%5c..%5cx.m4s`, `/tracks/${trackId}/v1/seg%00.m4s`, `/tracks/${trackId}/v1/aac_128\\..\\1.m4s`,
  ]) {
    const r = await rawGet(stack.originUrl, p, auth);
    assert.ok([400, 404].includes(r.status), `${p} -> ${r.status}`);
  }
  assert.equal((await rawGet(stack.originUrl, `/tracks/${trackId}/v1/nope.m4s`, auth)).status, 404);
  assert.equal((await rawGet(stack.originUrl, '/meta/whatever', auth)).status, 404);
});

test('the request counter counts every media request, refused ones included', async () => {
  const before = await metricValue(stack.originUrl, 'origin_requests_total');
  await rawGet(stack.originUrl, seg());
  await rawGet(stack.originUrl, seg(), auth);
  assert.equal(await metricValue(stack.originUrl, 'origin_requests_total'), before + 2);
  assert.equal((await rawGet(stack.originUrl, '/readyz')).status, 200);
});
