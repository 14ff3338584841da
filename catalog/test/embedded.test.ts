/**
 * The same catalog on the embedded defaults (embedded PostgreSQL 18 + the in-process cache): the path
 * `npm start` takes on a fresh machine. Covers migrations, accounts, CSRF, search, playlists, likes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { expectProblem, publishedTrack, startApp, type TestApp } from './helpers';

describe('catalog on embedded defaults (embedded PostgreSQL + memory cache)', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp({ backend: 'embedded' });
  });
  after(async () => t?.close());

  it('migrations installed pg_trgm and unaccent, and no Citus distribution happened', async () => {
    const ext = await sql<{ extname: string }>`select extname from pg_extension order by extname`.execute(t.deps.sql);
    const names = ext.rows.map((r) => r.extname);
    assert.ok(names.includes('pg_trgm'));
    assert.ok(names.includes('unaccent'));
    assert.ok(!names.includes('citus'));
    assert.equal(t.cache.kind, 'memory');
  });

  it('accounts, CSRF, search, likes and playlists work end to end', async () => {
    const m = await t.client().signup('musician', 'Мумий Тролль');
    const b = await t.client().signup('musician', 'Björk');
    const utekai = await publishedTrack(t, m, { title: 'Утекай' });
    const joga = await publishedTrack(t, b, { title: 'Jóga' });
    const l = await t.client().signup('listener');

    const ru = await l.get(`/api/tracks?q=${encodeURIComponent('Мумий Тролл')}`);
    assert.deepEqual(ru.body.items.map((x: { id: string }) => x.id), [utekai]);
    const bj = await l.get('/api/tracks?q=bjork');
    assert.deepEqual(bj.body.items.map((x: { id: string }) => x.id), [joga]);

    assert.equal((await l.put(`/api/tracks/${joga}/like`)).status, 204);
    assert.equal((await l.get('/api/me/likes')).body.items[0].id, joga);
    const p = await l.post('/api/playlists', { name: 'Mix' });
    await l.post(`/api/playlists/${p.body.id}/tracks`, { trackId: joga });
    await l.post(`/api/playlists/${p.body.id}/tracks`, { trackId: utekai, position: 0 });
    assert.deepEqual((await l.get(`/api/playlists/${p.body.id}`)).body.items.map((x: { track: { id: string } }) => x.track.id), [utekai, joga]);

    l.sendCsrf = false;
    expectProblem(await l.post('/api/playlists', { name: 'x' }), 403, 'csrf_mismatch');
    l.sendCsrf = true;
    assert.equal((await l.post('/api/auth/logout')).status, 204);
    expectProblem(await l.get('/api/me'), 401, 'unauthenticated');
  });
});
