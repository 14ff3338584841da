/**
 * Grants at the edge: every bad request is refused before the cache, and the origin never hears of
 * it (its own request counter does not move). Also: the HLS master through the edge, key rotation,
 * session binding, CORS.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Parser } from 'm3u8-parser';
import { signGrant } from '@platform/grants';
import { metricValue, newTrackId, rawGet, startStack, writePackagedTrack, RENDITIONS, SEGMENTS, type Stack } from './harness';

let stack: Stack;
let edgeUrl: string;
const trackA = newTrackId();
const trackB = newTrackId();
const hour = 3600_000;

before(async () => {
  stack = await startStack();
  await writePackagedTrack(stack.objects, trackA, 1);
  await writePackagedTrack(stack.objects, trackA, 2);
  await writePackagedTrack(stack.objects, trackB, 1);
  ({ url: edgeUrl } = await stack.startEdge());
});
after(() => stack.close());

const grantFor = (trackId: string, version: number, opts: { exp?: number; key?: number; sid?: string } = {}) =>
  signGrant(stack.keys[opts.key ?? 0], { trackId, version, exp: opts.exp ?? Date.now() + hour, sid: opts.sid });
const originRequests = () => metricValue(stack.originUrl, 'origin_requests_total');

test('bad grants and bad paths are refused and none of them reaches the origin', async () => {
  const good = grantFor(trackA, 1);
  const seg = `tracks/${trackA}/v1/aac_128/1.m4s`;
  const raw = Buffer.from(good, 'base64url');
  raw[raw.length - 1] ^= 0x01;
  const tampered = raw.toString('base64url');
  const { url: edgeWithoutOldKey } = await stack.startEdge({ signingKeys: [stack.keys[0]] });
  const cases: { name: string; base?: string; path: string; expect: number[] }[] = [
    { name: 'tampered signature', path: `/g/${tampered}/${seg}`, expect: [403] },
    { name: 'expired', path: `/g/${grantFor(trackA, 1, { exp: Date.now() - 1000 })}/${seg}`, expect: [403] },
    { name: "another track's grant", path: `/g/${grantFor(trackB, 1)}/${seg}`, expect: [403] },
    { name: "another version's grant", path: `/g/${grantFor(trackA, 2)}/${seg}`, expect: [403] },
    { name: 'unknown kid', path: `/g/${signGrant({ kid: 'nope', secret: 'x'.repeat(32) }, { trackId: trackA, version: 1, exp: Date.now() + hour })}/${seg}`, expect: [403] },
    { name: 'a key removed from the list', base: edgeWithoutOldKey, path: `/g/${grantFor(trackA, 1, { key: 1 })}/${seg}`, expect: [403] },
    { name: 'missing grant', path: `/${seg}`, expect: [403] },
    { name: 'empty grant', path: `/g//${seg}`, expect: [400, 403] },
    { name: 'garbage grant', path: `/g/${'A'.repeat(60)}/${seg}`, expect: [403] },
    { name: '..', path: `/g/${good}/tracks/${trackA}/v1/../../${trackB}/v1/aac_128/1.m4s`, expect: [400, 403, 404] },
    { name: '%2e%2e', path: `/g/${good}/tracks/${trackA}/v1/%2e%2e/%2e%2e/${trackB}/v1/aac_128/1.m4s`, expect: [400, 403, 404] },
    { name: 'double-encoded traversal', path: `/g/${good}/tracks/${trackA}/v1/%252e%252e/%252e%252e/${trackB}/v1/aac_128/1.m4s`, expect: [400, 403, 404] },
    { name: 'backslashes', path: `/g/${good}/tracks/${trackA}/v1/aac_128\\..\\..\\x.m4s`, expect: [400, 403, 404] },
    { name: 'NUL', path: `/g/${good}/tracks/${trackA}/v1/aac_128/1.m4s%00.m3u8`, expect: [400, 403, 404] },
    { name: 'absurdly long URL', path: `/g/${good}/tracks/${trackA}/v1/${'a/'.repeat(3000)}1.m4s`, expect: [400, 414] },
    { name: 'outside tracks/', path: `/g/${good}/originals/${trackA}/source.wav`, expect: [400, 403, 404] },
    { name: 'grant for the master, object of another version', path: `/g/${good}/tracks/${trackA}/v2/master.m3u8`, expect: [403] },
  ];
  const before = await originRequests();
  for (const c of cases) {
    const r = await rawGet(c.base ?? edgeUrl, c.path);
    assert.ok(c.expect.includes(r.status), `${c.name}: got ${r.status}`);
    assert.equal(r.headers['content-type'], 'application/problem+json', c.name);
    const problem = JSON.parse(r.body.toString());
    if (r.status === 403) assert.equal(problem.code, 'invalid_grant', c.name);
  }
  // A URL longer than node's header limit is refused by the parser itself.
  const huge = await rawGet(edgeUrl, `/g/${good}/${'x'.repeat(100_000)}`).catch((e: Error) => ({ status: 400, error: e.message }));
  assert.ok([400, 414, 431].includes(huge.status), `huge URL: ${huge.status}`);
  assert.equal(await originRequests(), before, 'no refused request reached the origin');
  // Control: the same edge with a good grant does reach it.
  assert.equal((await rawGet(edgeUrl, `/g/${good}/${seg}`)).status, 200);
  assert.ok((await originRequests()) > before);
});

test('a player going straight to the origin gets 403', async () => {
  const r = await rawGet(stack.originUrl, `/tracks/${trackA}/v1/master.m3u8`);
  assert.equal(r.status, 403);
});

test('the HLS master through the edge: every variant and segment URI resolves through the edge with the same grant', async () => {
  const grant = grantFor(trackA, 1);
  const masterUrl = `${edgeUrl}/g/${grant}/tracks/${trackA}/v1/master.m3u8`;
  const fetchText = async (u: string) => {
    const r = await fetch(u);
    assert.equal(r.status, 200, u);
    return r.text();
  };
  const master = new Parser();
  master.push(await fetchText(masterUrl));
  master.end();
  const playlists = master.manifest.playlists ?? [];
  assert.equal(playlists.length, RENDITIONS.length);
  let segments = 0;
  for (const p of playlists) {
    // Players resolve relative URIs against the playlist URL: the grant in the path carries over.
    const variantUrl = new URL(p.uri, masterUrl).toString();
    assert.ok(variantUrl.startsWith(`${edgeUrl}/g/${grant}/tracks/${trackA}/v1/`), variantUrl);
    const media = new Parser();
    media.push(await fetchText(variantUrl));
    media.end();
    assert.equal(media.manifest.segments.length, SEGMENTS);
    const uris: string[] = media.manifest.segments.map((s: { uri: string }) => s.uri);
    const map = media.manifest.segments[0].map?.uri;
    if (map) uris.push(map);
    for (const uri of uris) {
      const u = new URL(uri, variantUrl).toString();
      assert.ok(u.startsWith(`${edgeUrl}/g/${grant}/`), u);
      const r = await fetch(u);
      assert.equal(r.status, 200, u);
      assert.ok((await r.arrayBuffer()).byteLength > 0);
      segments++;
    }
  }
  assert.equal(segments, 2 * (SEGMENTS + 1) + SEGMENTS);
  // The DASH MPD's templates are relative as well.
  const mpdUrl = `${edgeUrl}/g/${grant}/tracks/${trackA}/v1/manifest.mpd`;
  const mpd = await fetchText(mpdUrl);
  for (const m of mpd.matchAll(/(?:initialization|media)="([^"]+)"/g)) {
    const u = new URL(m[1].replace('$Number$', '1'), mpdUrl).toString();
    assert.equal((await fetch(u)).status, 200, u);
  }
});

test('key rotation: a grant signed with the older key still verifies; the new key signs', async () => {
  const old = grantFor(trackA, 1, { key: 1 });
  const fresh = grantFor(trackA, 1, { key: 0 });
  for (const g of [old, fresh]) assert.equal((await rawGet(edgeUrl, `/g/${g}/tracks/${trackA}/v1/master.m3u8`)).status, 200);
});

test('session-bound grant: refused when the browser presents another session', async () => {
  const g = grantFor(trackA, 1, { sid: 'session-1' });
  const path = `/g/${g}/tracks/${trackA}/v1/master.m3u8`;
  assert.equal((await rawGet(edgeUrl, path, { cookie: 'sid=session-1' })).status, 200);
  assert.equal((await rawGet(edgeUrl, path, { cookie: 'sid=session-2' })).status, 403);
  assert.equal((await rawGet(edgeUrl, path)).status, 200, 'cross-origin players send no cookie (when-present policy)');
  const { url: strict } = await stack.startEdge({ sessionBinding: 'required' });
  assert.equal((await rawGet(strict, path)).status, 403);
});

test('CORS: preflight and exposed headers for players on another origin', async () => {
  const pre = await rawGet(edgeUrl, `/g/x/tracks/${trackA}/v1/master.m3u8`, { origin: 'https://player.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'range,cmcd-request' }, 'OPTIONS');
  assert.equal(pre.status, 204);
  assert.equal(pre.headers['access-control-allow-origin'], '*');
  assert.match(String(pre.headers['access-control-allow-headers']), /range/);
  assert.match(String(pre.headers['access-control-allow-headers']), /cmcd-request/);
  // The edge honours If-Range; a cross-origin fetch that resumes with it must pass the preflight.
  assert.match(String(pre.headers['access-control-allow-headers']), /if-range/);
  const r = await rawGet(edgeUrl, `/g/${grantFor(trackA, 1)}/tracks/${trackA}/v1/master.m3u8`, { origin: 'https://player.example' });
  assert.equal(r.headers['access-control-allow-origin'], '*');
  assert.match(String(r.headers['access-control-expose-headers']), /x-cache/);
  const denied = await rawGet(edgeUrl, `/tracks/${trackA}/v1/master.m3u8`, { origin: 'https://player.example' });
  assert.equal(denied.headers['access-control-allow-origin'], '*', 'players can read the 403 problem and refresh their grant');
});
