/** Accounts and sessions against real PostgreSQL + Redis: signup, login, logout, me, tokens, CSRF, revocation, rate limits. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { startApp, type TestApp } from './helpers';

describe('accounts and sessions (real PostgreSQL + Redis)', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp({ backend: 'real', auth: { loginLimits: { perIp: 8, perAccountIp: 3, perAccount: 5, windowMs: 60_000 } } });
  });
  after(async () => t?.close());

  it('signup sets an HttpOnly sid and a readable csrf cookie; me answers; musicians get an artist', async () => {
    const c = t.client();
    const email = `Mixed.Case-${Date.now()}@Example.test`;
    const r = await c.req('POST', '/api/auth/signup', { email, password: 'long enough pw', displayName: 'Мумий Тролль', role: 'musician' });
    assert.equal(r.status, 201);
    const setCookies = r.headers.getSetCookie();
    const sid = setCookies.find((x) => x.startsWith('sid='))!;
    const csrf = setCookies.find((x) => x.startsWith('csrf='))!;
    assert.match(sid, /HttpOnly/i);
    assert.match(sid, /SameSite=Lax/i);
    assert.doesNotMatch(csrf, /HttpOnly/i);
    assert.equal(r.body.role, 'musician');
    assert.ok(r.body.artistId);
    const me = await c.get('/api/me');
    assert.equal(me.status, 200);
    assert.equal(me.body.email, email);
    const artist = await c.get(`/api/artists/${r.body.artistId}`);
    assert.equal(artist.body.name, 'Мумий Тролль');

    // The same address in another case is the same account.
    const dup = await t.client().post('/api/auth/signup', { email: email.toUpperCase(), password: 'long enough pw', displayName: 'x', role: 'listener' });
    assert.equal(dup.status, 409);
    assert.equal(dup.body.code, 'email_taken');
    assert.match(dup.headers.get('content-type') ?? '', /application\/problem\+json/);

    const login = await t.client().post('/api/auth/login', { email: email.toLowerCase(), password: 'long enough pw' });
    assert.equal(login.status, 200);
    assert.equal(login.body.id, r.body.id);
  });

  it('passwords are stored as argon2id hashes, never in clear', async () => {
    const c = await t.client().signup('listener');
    const row = await t.deps.sql.selectFrom('users').select('password_hash').where('id', '=', c.me!.id).executeTakeFirstOrThrow();
    assert.match(row.password_hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  });

  it('cookie writes need x-csrf-token equal to the csrf cookie (403 csrf_mismatch)', async () => {
    const c = await t.client().signup('listener');
    c.sendCsrf = false;
    const bad = await c.post('/api/playlists', { name: 'no header' });
    assert.equal(bad.status, 403);
    assert.equal(bad.body.code, 'csrf_mismatch');
    const wrong = await c.req('POST', '/api/playlists', { name: 'wrong header' }, { 'x-csrf-token': 'not-the-cookie' });
    assert.equal(wrong.body.code, 'csrf_mismatch');
    c.sendCsrf = true;
    const ok = await c.post('/api/playlists', { name: 'with header' });
    assert.equal(ok.status, 201);
    // Reads need no token.
    c.sendCsrf = false;
    assert.equal((await c.get('/api/me/playlists')).status, 200);
  });

  it('logout revokes the session server-side (a copied cookie stops working)', async () => {
    const c = await t.client().signup('listener');
    const stolen = new Map(c.cookies);
    assert.equal((await c.post('/api/auth/logout')).status, 204);
    assert.equal(c.cookies.has('sid'), false);
    const replay = t.client();
    replay.cookies = stolen;
    const r = await replay.get('/api/me');
    assert.equal(r.status, 401);
    assert.equal(r.body.code, 'unauthenticated');
  });

  it('password change revokes every session and keeps the current browser signed in', async () => {
    const a = await t.client().signup('listener', 'Pat', 'first password 1');
    const b = t.client();
    assert.equal((await b.post('/api/auth/login', { email: a.me!.email, password: 'first password 1' })).status, 200);
    const wrongCurrent = await a.post('/api/auth/password', { currentPassword: 'nope nope', newPassword: 'second password 2' });
    assert.equal(wrongCurrent.status, 401);
    assert.equal((await a.post('/api/auth/password', { currentPassword: 'first password 1', newPassword: 'second password 2' })).status, 204);
    assert.equal((await b.get('/api/me')).status, 401, 'the other browser is signed out');
    assert.equal((await a.get('/api/me')).status, 200, 'this browser got a fresh session');
    assert.equal((await t.client().post('/api/auth/login', { email: a.me!.email, password: 'first password 1' })).status, 401);
    assert.equal((await t.client().post('/api/auth/login', { email: a.me!.email, password: 'second password 2' })).status, 200);
  });

  it('sessions slide: each request pushes the Redis TTL forward', async () => {
    const c = await t.client().signup('listener');
    const redis = (t.cache as unknown as { client: import('ioredis').Redis }).client;
    // The cache key is a hash of the cookie value (a cache dump must not hold live session ids).
    const key = `catalog:sess:${createHash('sha256').update(c.cookies.get('sid')!).digest('hex')}`;
    assert.ok((await redis.pttl(key)) > t.deps.config.SESSION_TTL - 60_000);
    await redis.pexpire(key, 5_000);
    assert.ok((await redis.pttl(key)) <= 5_000);
    assert.equal((await c.get('/api/me')).status, 200);
    assert.ok((await redis.pttl(key)) > t.deps.config.SESSION_TTL - 60_000, 'the request pushed the expiry back to the full TTL');
  });

  it('API tokens: shown once, work without CSRF, stored hashed, revocable', async () => {
    const c = await t.client().signup('musician');
    const created = await c.post('/api/auth/tokens', { name: 'cli' });
    assert.equal(created.status, 201);
    assert.match(created.body.token, /^mpt_/);
    const list = await c.get('/api/auth/tokens');
    assert.equal(list.body.items.length, 1);
    assert.equal(list.body.items[0].token, undefined, 'the token is never shown again');
    const row = await t.deps.sql.selectFrom('api_tokens').selectAll().where('id', '=', created.body.id).executeTakeFirstOrThrow();
    assert.equal(row.token_hash.length, 32);
    assert.ok(!row.token_hash.toString('utf8').includes(created.body.token.slice(-43)));

    const script = t.client();
    script.token = created.body.token;
    assert.equal((await script.get('/api/me')).body.id, c.me!.id);
    assert.equal((await script.post('/api/playlists', { name: 'from a script' })).status, 201, 'no CSRF for Bearer');

    const tampered = t.client();
    tampered.token = created.body.token.slice(0, -1) + (created.body.token.endsWith('A') ? 'B' : 'A');
    const bad = await tampered.get('/api/me');
    assert.equal(bad.status, 401);

    assert.equal((await c.del(`/api/auth/tokens/${created.body.id}`)).status, 204);
    assert.equal((await script.get('/api/me')).status, 401);
    assert.equal((await c.del(`/api/auth/tokens/${created.body.id}`)).status, 404);
  });

  it('login failures are limited per (account, IP): an attacker cannot lock the owner out; per account across IPs and per IP too', async () => {
    const victim = await t.client().signup('listener');
    const email = victim.me!.email;
    const attacker = t.client();
    const codes: number[] = [];
    for (let i = 0; i < 4; i++) codes.push((await attacker.post('/api/auth/login', { email, password: `guess ${i}` })).status);
    assert.deepEqual(codes, [401, 401, 401, 429]);
    // The attacker's address is over its own limit for this account: refused even with the right password.
    const limited = await attacker.post('/api/auth/login', { email, password: 'correct horse battery' });
    assert.equal(limited.status, 429);
    assert.equal(limited.body.code, 'rate_limited');
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    // The owner, from another address, still logs in (this was a 429 for the whole window: lockout abuse).
    assert.equal((await loginFrom(t.baseUrl, '127.0.0.2', email, 'correct horse battery')).status, 200);
    // Distributed guessing: 3 + 2 failures reach the per-account limit (5); from then on each address
    // gets one failed guess at this account, while an address without failures can still log in.
    assert.equal((await loginFrom(t.baseUrl, '127.0.0.3', email, 'guess a')).status, 401);
    assert.equal((await loginFrom(t.baseUrl, '127.0.0.3', email, 'guess b')).status, 401);
    assert.equal((await loginFrom(t.baseUrl, '127.0.0.3', email, 'guess c')).status, 429);
    assert.equal((await loginFrom(t.baseUrl, '127.0.0.4', email, 'guess d')).status, 401);
    assert.equal((await loginFrom(t.baseUrl, '127.0.0.4', email, 'correct horse battery')).status, 429);
    assert.equal((await loginFrom(t.baseUrl, '127.0.0.2', email, 'correct horse battery')).status, 200);
    // Per IP: the 8-attempt window is used up by now for everything from this address.
    for (let i = 0; i < 4; i++) await attacker.post('/api/auth/login', { email: `nobody${i}@example.test`, password: 'whatever1' });
    const ipLimited = await attacker.post('/api/auth/login', { email: 'someone.else@example.test', password: 'whatever1' });
    assert.equal(ipLimited.status, 429);
    const metrics = await (await fetch(`${t.baseUrl}/metrics`)).text();
    assert.match(metrics, /catalog_logins_total\{[^}]*result="rate_limited"[^}]*\} [1-9]/);
  });

  it('sign-ups are rate limited per IP', async () => {
    const small = await startApp({ backend: 'real', auth: { signupLimit: { perIp: 2, windowMs: 60_000 } } });
    try {
      await small.client().signup('listener');
      await small.client().signup('listener');
      const third = await small.client().post('/api/auth/signup', { email: 'third@example.test', password: 'long enough pw', displayName: 'Third', role: 'listener' });
      assert.equal(third.status, 429);
      assert.equal(third.body.code, 'rate_limited');
      assert.ok(Number(third.headers.get('retry-after')) >= 1);
    } finally {
      await small.close();
    }
  });
});

/** POST /api/auth/login from another loopback address (127.0.0.0/8 is all local on Linux), so request.ip differs. */
function loginFrom(baseUrl: string, localAddress: string, email: string, password: string): Promise<{ status: number }> {
  const body = JSON.stringify({ email, password });
  return new Promise((resolve, reject) => {
    const req = http.request(`${baseUrl}/api/auth/login`, { method: 'POST', localAddress, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
