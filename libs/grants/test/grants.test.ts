import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '@platform/config';
import {
  GrantVerifier,
  createEdgeCredentialCheck,
  loadEdgeOriginSecret,
  loadSigningKeys,
  parseMediaKey,
  parseRange,
  signGrant,
  signingKeysFile,
  verifyGrant,
} from '@platform/grants';

const k1 = { kid: 'k1', secret: 'first-secret-0123456789' };
const k2 = { kid: 'k2', secret: 'second-secret-0123456789' };
const track = '0b8f4a3e-4f7c-4a8e-9d7e-0123456789ab';
const now = Date.UTC(2026, 0, 1);
const exp = now + 3600_000;

test('a grant verifies for its track version and nothing else', () => {
  const g = signGrant(k1, { trackId: track, version: 2, exp });
  assert.match(g, /^[A-Za-z0-9_-]+$/);
  assert.ok(g.length < 80, `grant is compact (${g.length} chars)`);
  assert.deepEqual(verifyGrant([k1], g, { trackId: track, version: 2, now }), { ok: true, kid: 'k1', exp, isSessionBound: false });
  assert.deepEqual(verifyGrant([k1], g, { trackId: track, version: 3, now }), { ok: false, reason: 'bad_signature' });
  assert.deepEqual(verifyGrant([k1], g, { trackId: 'another', version: 2, now }), { ok: false, reason: 'bad_signature' });
});

test('expired, tampered, unknown kid and malformed grants fail with their reason', () => {
  const g = signGrant(k1, { trackId: track, version: 1, exp });
  assert.equal(verifyGrant([k1], g, { trackId: track, version: 1, now: exp }).ok, false);
  assert.deepEqual(verifyGrant([k1], g, { trackId: track, version: 1, now: exp + 1 }), { ok: false, reason: 'expired' });
  // Flip one bit in every byte position in turn: none may verify.
  const raw = Buffer.from(g, 'base64url');
  for (let i = 0; i < raw.length; i++) {
    const t = Buffer.from(raw);
    t[i] ^= 1;
    assert.equal(verifyGrant([k1], t.toString('base64url'), { trackId: track, version: 1, now }).ok, false, `byte ${i}`);
  }
  assert.deepEqual(verifyGrant([k2], g, { trackId: track, version: 1, now }), { ok: false, reason: 'unknown_kid' });
  for (const bad of ['', 'abc', 'not+base64/', 'x'.repeat(500), Buffer.alloc(60).toString('base64url')]) {
    assert.deepEqual(verifyGrant([k1], bad, { trackId: track, version: 1, now }), { ok: false, reason: 'malformed' });
  }
});

test('rotation: the first key signs, every listed key verifies, a removed key stops verifying', () => {
  const old = signGrant(k1, { trackId: track, version: 1, exp });
  const ring = [k2, k1];
  const fresh = signGrant(ring[0], { trackId: track, version: 1, exp });
  assert.equal(verifyGrant(ring, old, { trackId: track, version: 1, now }).ok, true);
  assert.equal(verifyGrant(ring, fresh, { trackId: track, version: 1, now }).ok, true);
  assert.deepEqual(verifyGrant([k2], old, { trackId: track, version: 1, now }), { ok: false, reason: 'unknown_kid' });
});

test('session binding: the tag matches only the session it was issued to', () => {
  const g = signGrant(k1, { trackId: track, version: 1, exp, sid: 'session-a' });
  assert.equal(verifyGrant([k1], g, { trackId: track, version: 1, now, sid: 'session-a' }).ok, true);
  assert.deepEqual(verifyGrant([k1], g, { trackId: track, version: 1, now, sid: 'session-b' }), { ok: false, reason: 'session_mismatch' });
  assert.ok(!Buffer.from(g, 'base64url').includes(Buffer.from('session-a')), 'the sid itself is not in the token');
});

test('GrantVerifier memoizes successes but still enforces scope and expiry', () => {
  const v = new GrantVerifier([k1]);
  const g = signGrant(k1, { trackId: track, version: 1, exp });
  assert.equal(v.verify(g, track, 1, now).ok, true);
  assert.equal(v.verify(g, track, 1, now).ok, true);
  assert.equal(v.verify(g, track, 2, now).ok, false);
  assert.deepEqual(v.verify(g, track, 1, exp + 5), { ok: false, reason: 'expired' });
  assert.equal(new GrantVerifier([k2]).verify(g, track, 1, now).ok, false);
});

test('GrantVerifier: the memo stays within its bound and answers the same across generations', () => {
  const v = new GrantVerifier([k1], 8);
  const grants = Array.from({ length: 50 }, (_, i) => signGrant(k1, { trackId: track, version: i + 1, exp }));
  for (let round = 0; round < 3; round++) {
    grants.forEach((g, i) => {
      assert.equal(v.verify(g, track, i + 1, now).ok, true);
      assert.ok(v.memoSize <= 8, `memo size ${v.memoSize}`);
    });
  }
  assert.equal(v.verify(grants[49], track, 49, now).ok, false, 'a remembered grant still has its scope checked');
  assert.deepEqual(v.verify(grants[49], track, 50, exp + 1), { ok: false, reason: 'expired' });
});

test('keys are generated once under DATA_DIR with mode 0600 and reused', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grants-'));
  try {
    const config = loadConfig({ DATA_DIR: dir });
    const a = loadSigningKeys(config);
    const b = loadSigningKeys(config);
    assert.deepEqual(a, b);
    assert.equal(a.length, 1);
    assert.equal(fs.statSync(signingKeysFile(config.dataDir)).mode & 0o777, 0o600);
    const s1 = loadEdgeOriginSecret(config);
    assert.equal(loadEdgeOriginSecret(config), s1);
    assert.ok(s1.length >= 32);
    const configured = loadConfig({ DATA_DIR: dir, MEDIA_SIGNING_KEYS: 'new:0123456789abcdef0123,old:fedcba98765432100123', EDGE_ORIGIN_SECRET: 'edge-secret-0123456789' });
    assert.deepEqual(loadSigningKeys(configured).map((k) => k.kid), ['new', 'old']);
    assert.equal(loadEdgeOriginSecret(configured), 'edge-secret-0123456789');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('edge credential check', () => {
  const check = createEdgeCredentialCheck('edge-secret-0123456789');
  assert.equal(check('edge-secret-0123456789'), true);
  assert.equal(check('edge-secret-012345678'), false);
  assert.equal(check(undefined), false);
  assert.equal(check(''), false);
  assert.equal(check(['edge-secret-0123456789']), false);
});

test('media keys: only tracks/{id}/v{n}/... with plain names', () => {
  assert.deepEqual(parseMediaKey(`tracks/${track}/v3/aac_128/seg_1.m4s`), { key: `tracks/${track}/v3/aac_128/seg_1.m4s`, trackId: track, version: 3, file: 'aac_128/seg_1.m4s', ext: 'm4s' });
  assert.equal(parseMediaKey(`tracks/${track}/v3/master.m3u8`)?.ext, 'm3u8');
  for (const bad of [
    `tracks/${track}/v3/../v2/master.m3u8`, `tracks/${track}/v3/%2e%2e/master.m3u8`, `tracks/${track}/v3/%252e%252e/master.m3u8`,
    `tracks/${track}/v3/a\\..\\b.m4s`, `tracks/${track}/v3/seg.m4s\0`, `tracks/${track}/v3//seg.m4s`, `tracks/${track}/v3/.hidden.m4s`,
    `tracks/${track}/v3/seg.exe`, `tracks/${track}/3/seg.m4s`, `tracks/${track}/v3`, `originals/${track}/file.wav`, `tracks/${'a'.repeat(600)}/v1/x.m4s`,
  ]) assert.equal(parseMediaKey(bad), null, bad);
});

test('byte ranges', () => {
  assert.deepEqual(parseRange('bytes=0-9', 100), { kind: 'ok', start: 0, end: 9 });
  assert.deepEqual(parseRange('bytes=90-', 100), { kind: 'ok', start: 90, end: 99 });
  assert.deepEqual(parseRange('bytes=-10', 100), { kind: 'ok', start: 90, end: 99 });
  assert.deepEqual(parseRange('bytes=50-500', 100), { kind: 'ok', start: 50, end: 99 });
  assert.deepEqual(parseRange('bytes=100-', 100), { kind: 'unsatisfiable' });
  assert.deepEqual(parseRange('bytes=0-1,5-6', 100), { kind: 'none' });
  assert.deepEqual(parseRange(undefined, 100), { kind: 'none' });
});

test('GrantVerifier: a session-bound grant is re-checked for every new sid', () => {
  const v = new GrantVerifier([k1]);
  const g = signGrant(k1, { trackId: track, version: 1, exp, sid: 'a' });
  assert.equal(v.verify(g, track, 1, now).ok, true);
  assert.equal(v.verify(g, track, 1, now, 'a').ok, true);
  assert.equal(v.verify(g, track, 1, now, 'a').ok, true);
  assert.deepEqual(v.verify(g, track, 1, now, 'b'), { ok: false, reason: 'session_mismatch' });
  assert.equal(v.verify(g, track, 1, now, 'a').ok, true);
});
