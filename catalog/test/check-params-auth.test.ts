/** Bad input for the account endpoints: each answered with the right problem+json (real PostgreSQL + Redis). */
import { after, before, describe, it } from 'node:test';
import { expectProblem, startApp, type Client, type TestApp } from './helpers';

describe('check params: /api/auth and /api/me', () => {
  let t: TestApp;
  let user: Client;
  const good = { email: 'someone@example.test', password: 'long enough pw', displayName: 'Someone', role: 'listener' };
  before(async () => {
    t = await startApp({ backend: 'real' });
    user = await t.client().signup('listener');
  });
  after(async () => t?.close());

  it('POST /api/auth/signup', async () => {
    const c = t.client();
    expectProblem(await c.post('/api/auth/signup', { ...good, email: undefined }), 400, 'validation_failed', 'body.email');
    expectProblem(await c.post('/api/auth/signup', { ...good, email: 'not-an-email' }), 400, 'validation_failed', 'body.email');
    expectProblem(await c.post('/api/auth/signup', { ...good, email: `${'a'.repeat(250)}@example.test` }), 400, 'validation_failed', 'body.email');
    expectProblem(await c.post('/api/auth/signup', { ...good, password: 'short' }), 400, 'validation_failed', 'body.password');
    expectProblem(await c.post('/api/auth/signup', { ...good, password: 'x'.repeat(300) }), 400, 'validation_failed', 'body.password');
    expectProblem(await c.post('/api/auth/signup', { ...good, displayName: '   ' }), 400, 'validation_failed', 'body.displayName');
    expectProblem(await c.post('/api/auth/signup', { ...good, role: 'admin' }), 400, 'validation_failed', 'body.role');
    expectProblem(await c.post('/api/auth/signup', { ...good, isAdmin: true }), 400, 'validation_failed');
    expectProblem(await c.post('/api/auth/signup', { ...good, password: 12345678 }), 400, 'validation_failed', 'body.password');
    expectProblem(await c.req('POST', '/api/auth/signup', '{"email":', { 'content-type': 'application/json' }), 400, 'bad_request');
    expectProblem(await c.req('POST', '/api/auth/signup', 'email=a', { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'unsupported_format');
    expectProblem(await c.req('POST', '/api/auth/signup', JSON.stringify({ ...good, displayName: 'x'.repeat(2 * 1024 * 1024) }), { 'content-type': 'application/json' }), 413, 'payload_too_large');
    const email = `dupe-${Date.now()}@example.test`;
    await t.client().post('/api/auth/signup', { ...good, email });
    expectProblem(await t.client().post('/api/auth/signup', { ...good, email: email.toUpperCase() }), 409, 'email_taken');
  });

  it('POST /api/auth/login', async () => {
    const c = t.client();
    expectProblem(await c.post('/api/auth/login', {}), 400, 'validation_failed', 'body.email');
    expectProblem(await c.post('/api/auth/login', { email: user.me!.email }), 400, 'validation_failed', 'body.password');
    expectProblem(await c.post('/api/auth/login', { email: user.me!.email, password: ['a'] }), 400, 'validation_failed', 'body.password');
    expectProblem(await c.post('/api/auth/login', { email: user.me!.email, password: 'wrong password' }), 401, 'invalid_credentials');
    expectProblem(await c.post('/api/auth/login', { email: 'nobody@example.test', password: 'wrong password' }), 401, 'invalid_credentials');
  });

  it('GET/PATCH /api/me, POST /api/auth/password', async () => {
    expectProblem(await t.client().get('/api/me'), 401, 'unauthenticated');
    expectProblem(await user.patch('/api/me', {}), 400, 'validation_failed', 'body.displayName');
    expectProblem(await user.patch('/api/me', { displayName: 'x'.repeat(101) }), 400, 'validation_failed', 'body.displayName');
    expectProblem(await user.post('/api/auth/password', { currentPassword: 'correct horse battery' }), 400, 'validation_failed', 'body.newPassword');
    expectProblem(await user.post('/api/auth/password', { currentPassword: 'correct horse battery', newPassword: 'short' }), 400, 'validation_failed', 'body.newPassword');
    expectProblem(await user.post('/api/auth/password', { currentPassword: 'not it at all', newPassword: 'long enough new' }), 401, 'invalid_credentials');
    expectProblem(await t.client().post('/api/auth/password', { currentPassword: 'a', newPassword: 'long enough new' }), 401, 'unauthenticated');
  });

  it('API tokens', async () => {
    expectProblem(await t.client().post('/api/auth/tokens', { name: 'x' }), 401, 'unauthenticated');
    expectProblem(await user.post('/api/auth/tokens', {}), 400, 'validation_failed', 'body.name');
    expectProblem(await user.post('/api/auth/tokens', { name: '' }), 400, 'validation_failed', 'body.name');
    expectProblem(await user.post('/api/auth/tokens', { name: 'x'.repeat(101) }), 400, 'validation_failed', 'body.name');
    expectProblem(await user.del('/api/auth/tokens/not-a-uuid'), 400, 'validation_failed', 'params.id');
    expectProblem(await user.del('/api/auth/tokens/00000000-0000-4000-8000-000000000000'), 404, 'not_found');
    const bearer = t.client();
    bearer.token = 'garbage';
    expectProblem(await bearer.get('/api/me'), 401, 'unauthenticated');
    expectProblem(await t.client().req('GET', '/api/me', undefined, { authorization: 'Basic dXNlcjpwYXNz' }), 401, 'unauthenticated');
  });

  it('CSRF on cookie writes', async () => {
    const c = await t.client().signup('listener');
    c.sendCsrf = false;
    expectProblem(await c.post('/api/auth/logout'), 403, 'csrf_mismatch');
    expectProblem(await c.req('DELETE', '/api/auth/tokens/00000000-0000-4000-8000-000000000000', undefined, { 'x-csrf-token': 'forged' }), 403, 'csrf_mismatch');
  });
});
