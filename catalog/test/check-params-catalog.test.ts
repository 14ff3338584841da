/** Bad input for tracks, artists, albums, likes and follows: each answered with the right problem+json. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { expectProblem, publishedTrack, startApp, type Client, type TestApp } from './helpers';

const NOBODY = '00000000-0000-4000-8000-000000000000';

describe('check params: tracks, artists, albums, likes, follows', () => {
  let t: TestApp;
  let musician: Client;
  let trackId: string;
  before(async () => {
    t = await startApp({ backend: 'real' });
    musician = await t.client().signup('musician', 'Param Band');
    trackId = await publishedTrack(t, musician, { title: 'Param Song', album: 'Param LP' });
  });
  after(async () => t?.close());

  it('GET /api/tracks', async () => {
    const c = t.client();
    expectProblem(await c.get('/api/tracks?limit=0'), 400, 'validation_failed', 'query.limit');
    expectProblem(await c.get('/api/tracks?limit=101'), 400, 'validation_failed', 'query.limit');
    expectProblem(await c.get('/api/tracks?limit=abc'), 400, 'validation_failed', 'query.limit');
    expectProblem(await c.get('/api/tracks?limit=2.5'), 400, 'validation_failed', 'query.limit');
    expectProblem(await c.get(`/api/tracks?q=${'x'.repeat(201)}`), 400, 'validation_failed', 'query.q');
    expectProblem(await c.get('/api/tracks?cursor=%25%25'), 400, 'validation_failed', 'query.cursor');
    expectProblem(await c.get(`/api/tracks?cursor=${Buffer.from('["x","y"]').toString('base64url')}`), 400, 'validation_failed', 'query.cursor');
    expectProblem(await c.get(`/api/tracks?cursor=${Buffer.from('[1,"not-a-uuid"]').toString('base64url')}&q=a`), 400, 'validation_failed', 'query.cursor');
    expectProblem(await c.get(`/api/tracks?cursor=${Buffer.from("['; drop table tracks; --").toString('base64url')}`), 400, 'validation_failed', 'query.cursor');
    expectProblem(await c.get('/api/tracks?artistId=1'), 400, 'validation_failed', 'query.artistId');
    expectProblem(await c.get('/api/tracks?sort=desc'), 400, 'validation_failed');
    // Search syntax characters are data, never syntax.
    for (const q of ["'", '&|!():*', 'a & b', '\\', '%_', 'Ünïcødé ∞ 🎵']) {
      assert.equal((await c.get(`/api/tracks?q=${encodeURIComponent(q)}`)).status, 200, q);
    }
    assert.equal((await c.get('/api/tracks?q=')).status, 200);
  });

  it('GET /api/tracks/:id', async () => {
    const c = t.client();
    expectProblem(await c.get('/api/tracks/not-a-uuid'), 400, 'validation_failed', 'params.id');
    expectProblem(await c.get(`/api/tracks/${NOBODY}`), 404, 'not_found');
  });

  it('PATCH and DELETE /api/tracks/:id', async () => {
    expectProblem(await musician.patch(`/api/tracks/${trackId}`, {}), 400, 'validation_failed');
    expectProblem(await musician.patch(`/api/tracks/${trackId}`, { title: '' }), 400, 'validation_failed', 'body.title');
    expectProblem(await musician.patch(`/api/tracks/${trackId}`, { title: 'x'.repeat(301) }), 400, 'validation_failed', 'body.title');
    expectProblem(await musician.patch(`/api/tracks/${trackId}`, { year: '1999' }), 400, 'validation_failed', 'body.year');
    expectProblem(await musician.patch(`/api/tracks/${trackId}`, { trackNumber: 0 }), 400, 'validation_failed', 'body.trackNumber');
    expectProblem(await musician.patch(`/api/tracks/${trackId}`, { status: 'ready' }), 400, 'validation_failed');
    expectProblem(await musician.patch(`/api/tracks/${trackId}`, { artist: null }), 400, 'validation_failed', 'body.artist');
    expectProblem(await musician.patch(`/api/tracks/${NOBODY}`, { title: 'x' }), 404, 'not_found');
    expectProblem(await musician.del('/api/tracks/123'), 400, 'validation_failed', 'params.id');
    expectProblem(await musician.del(`/api/tracks/${NOBODY}`), 404, 'not_found');
  });

  it('likes and follows', async () => {
    const l = await t.client().signup('listener');
    expectProblem(await t.client().put(`/api/tracks/${trackId}/like`), 401, 'unauthenticated');
    expectProblem(await l.put('/api/tracks/xyz/like'), 400, 'validation_failed', 'params.id');
    expectProblem(await l.put(`/api/tracks/${NOBODY}/like`), 404, 'not_found');
    expectProblem(await l.put('/api/artists/xyz/follow'), 400, 'validation_failed', 'params.id');
    expectProblem(await l.put(`/api/artists/${NOBODY}/follow`), 404, 'not_found');
    expectProblem(await l.get('/api/me/likes?limit=-1'), 400, 'validation_failed', 'query.limit');
    expectProblem(await l.get('/api/me/follows?cursor=abc'), 400, 'validation_failed', 'query.cursor');
    expectProblem(await t.client().get('/api/me/likes'), 401, 'unauthenticated');
  });

  it('artists', async () => {
    const c = t.client();
    expectProblem(await c.get('/api/artists/abc'), 400, 'validation_failed', 'params.id');
    expectProblem(await c.get(`/api/artists/${NOBODY}`), 404, 'not_found');
    expectProblem(await c.get(`/api/artists/${NOBODY}/tracks`), 404, 'not_found');
    expectProblem(await c.get('/api/artists?limit=1000'), 400, 'validation_failed', 'query.limit');
    expectProblem(await musician.patch(`/api/artists/${musician.me!.artistId}`, {}), 400, 'validation_failed');
    expectProblem(await musician.patch(`/api/artists/${musician.me!.artistId}`, { name: '' }), 400, 'validation_failed', 'body.name');
    expectProblem(await musician.patch(`/api/artists/${musician.me!.artistId}`, { bio: 'x'.repeat(5001) }), 400, 'validation_failed', 'body.bio');
  });

  it('albums', async () => {
    expectProblem(await musician.post('/api/albums', {}), 400, 'validation_failed', 'body.title');
    expectProblem(await musician.post('/api/albums', { title: 'X', year: 99 }), 400, 'validation_failed', 'body.year');
    expectProblem(await musician.post('/api/albums', { title: 'X', artistId: 'me' }), 400, 'validation_failed', 'body.artistId');
    expectProblem(await musician.post('/api/albums', { title: 'X', artistId: NOBODY }), 404, 'not_found');
    expectProblem(await musician.post('/api/albums', { title: 'param lp' }), 409, 'conflict');
    expectProblem(await t.client().get(`/api/albums/${NOBODY}`), 404, 'not_found');
    expectProblem(await t.client().get('/api/albums/nope'), 400, 'validation_failed', 'params.id');
    const other = await musician.post('/api/albums', { title: 'Other LP' });
    assert.equal(other.status, 201);
    expectProblem(await musician.patch(`/api/albums/${other.body.id}`, { title: 'Param LP' }), 409, 'conflict');
    expectProblem(await musician.patch(`/api/albums/${other.body.id}`, {}), 400, 'validation_failed');
  });
});
