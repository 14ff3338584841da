/** Bad input for playlists: each answered with the right problem+json (real PostgreSQL + Redis). */
import { after, before, describe, it } from 'node:test';
import { draftTrack, expectProblem, publishedTrack, startApp, type Client, type TestApp } from './helpers';

const NOBODY = '00000000-0000-4000-8000-000000000000';

describe('check params: /api/playlists', () => {
  let t: TestApp;
  let user: Client;
  let musician: Client;
  let playlistId: string;
  let trackId: string;
  before(async () => {
    t = await startApp({ backend: 'real' });
    musician = await t.client().signup('musician');
    user = await t.client().signup('listener');
    trackId = await publishedTrack(t, musician, { title: 'Listed' });
    playlistId = (await user.post('/api/playlists', { name: 'Mine' })).body.id;
  });
  after(async () => t?.close());

  it('POST /api/playlists', async () => {
    expectProblem(await t.client().post('/api/playlists', { name: 'x' }), 401, 'unauthenticated');
    expectProblem(await user.post('/api/playlists', {}), 400, 'validation_failed', 'body.name');
    expectProblem(await user.post('/api/playlists', { name: ' ' }), 400, 'validation_failed', 'body.name');
    expectProblem(await user.post('/api/playlists', { name: 'x'.repeat(201) }), 400, 'validation_failed', 'body.name');
    expectProblem(await user.post('/api/playlists', { name: 'x', isPublic: 'yes' }), 400, 'validation_failed', 'body.isPublic');
    expectProblem(await user.post('/api/playlists', { name: 'x', description: 'd'.repeat(2001) }), 400, 'validation_failed', 'body.description');
    expectProblem(await user.post('/api/playlists', { name: 'x', ownerId: NOBODY }), 400, 'validation_failed');
    expectProblem(await user.req('POST', '/api/playlists', '[]', { 'content-type': 'application/json' }), 400, 'validation_failed');
  });

  it('GET/PATCH/DELETE /api/playlists/:id', async () => {
    expectProblem(await user.get('/api/playlists/abc'), 400, 'validation_failed', 'params.id');
    expectProblem(await user.get(`/api/playlists/${NOBODY}`), 404, 'not_found');
    expectProblem(await user.get(`/api/playlists/${playlistId}?limit=501`), 400, 'validation_failed', 'query.limit');
    expectProblem(await user.get(`/api/playlists/${playlistId}?cursor=zzz`), 400, 'validation_failed', 'query.cursor');
    expectProblem(await user.patch(`/api/playlists/${playlistId}`, {}), 400, 'validation_failed');
    expectProblem(await user.patch(`/api/playlists/${playlistId}`, { isPublic: 1 }), 400, 'validation_failed', 'body.isPublic');
    expectProblem(await user.patch(`/api/playlists/${NOBODY}`, { name: 'x' }), 404, 'not_found');
    expectProblem(await user.del(`/api/playlists/${NOBODY}`), 404, 'not_found');
  });

  it('items: add, move, remove', async () => {
    const base = `/api/playlists/${playlistId}/tracks`;
    expectProblem(await user.post(base, {}), 400, 'validation_failed', 'body.trackId');
    expectProblem(await user.post(base, { trackId: 'abc' }), 400, 'validation_failed', 'body.trackId');
    expectProblem(await user.post(base, { trackId, position: -1 }), 400, 'validation_failed', 'body.position');
    expectProblem(await user.post(base, { trackId, position: 1.5 }), 400, 'validation_failed', 'body.position');
    expectProblem(await user.post(base, { trackId: NOBODY }), 404, 'not_found');
    expectProblem(await user.post(base, { trackId: await draftTrack(t, musician, 'Draft') }), 404, 'not_found');
    expectProblem(await user.post(`/api/playlists/${NOBODY}/tracks`, { trackId }), 404, 'not_found');
    const item = (await user.post(base, { trackId })).body.itemId;
    expectProblem(await user.patch(`${base}/${item}`, {}), 400, 'validation_failed', 'body.position');
    expectProblem(await user.patch(`${base}/${item}`, { position: 'first' }), 400, 'validation_failed', 'body.position');
    expectProblem(await user.patch(`${base}/${NOBODY}`, { position: 0 }), 404, 'not_found');
    expectProblem(await user.patch(`${base}/xyz`, { position: 0 }), 400, 'validation_failed', 'params.itemId');
    expectProblem(await user.del(`${base}/${NOBODY}`), 404, 'not_found');
    expectProblem(await user.del(`${base}/xyz`), 400, 'validation_failed', 'params.itemId');
  });
});
