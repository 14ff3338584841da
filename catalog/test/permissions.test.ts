/**
 * Permission matrix: anonymous / listener / other musician / owner / admin x each write endpoint.
 * Each cell gets fresh resources (so deletes do not interfere) and checks the exact status.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeAdmin, publishedTrack, startApp, type Client, type TestApp } from './helpers';

type Actor = 'anonymous' | 'listener' | 'otherMusician' | 'owner' | 'admin';
const ACTORS: Actor[] = ['anonymous', 'listener', 'otherMusician', 'owner', 'admin'];

interface Cell {
  method: string;
  url: string;
  body?: unknown;
}

describe('permission matrix (real PostgreSQL + Redis)', () => {
  let t: TestApp;
  let owner: Client;
  let clients: Record<Actor, Client>;
  before(async () => {
    t = await startApp({ backend: 'real' });
    owner = await t.client().signup('musician', 'Owner Band');
    clients = {
      anonymous: t.client(),
      listener: await t.client().signup('listener'),
      otherMusician: await t.client().signup('musician', 'Rival Band'),
      owner,
      admin: await makeAdmin(t),
    };
  });
  after(async () => t?.close());

  const track = () => publishedTrack(t, owner, { title: `T ${Math.random()}`, album: 'Matrix LP' });
  const album = async () => (await t.deps.sql.selectFrom('tracks').select('album_id').where('id', '=', await track()).executeTakeFirstOrThrow()).album_id!;
  /** A public playlist of `owner` with one item. */
  const playlist = async () => {
    const p = await owner.post('/api/playlists', { name: 'Shared', isPublic: true });
    const item = await owner.post(`/api/playlists/${p.body.id}/tracks`, { trackId: await track() });
    return { id: p.body.id as string, itemId: item.body.itemId as string };
  };

  const matrix: Array<{ name: string; cell: () => Promise<Cell>; expect: Record<Actor, number> }> = [
    { name: 'PATCH /api/tracks/:id', cell: async () => ({ method: 'PATCH', url: `/api/tracks/${await track()}`, body: { title: 'Renamed' } }), expect: { anonymous: 401, listener: 403, otherMusician: 403, owner: 200, admin: 200 } },
    { name: 'DELETE /api/tracks/:id', cell: async () => ({ method: 'DELETE', url: `/api/tracks/${await track()}` }), expect: { anonymous: 401, listener: 403, otherMusician: 403, owner: 204, admin: 204 } },
    { name: 'PATCH /api/artists/:id', cell: async () => ({ method: 'PATCH', url: `/api/artists/${owner.me!.artistId}`, body: { bio: 'New bio' } }), expect: { anonymous: 401, listener: 403, otherMusician: 403, owner: 200, admin: 200 } },
    { name: 'POST /api/albums (for the owner artist)', cell: async () => ({ method: 'POST', url: '/api/albums', body: { title: `A ${Math.random()}`, artistId: owner.me!.artistId } }), expect: { anonymous: 401, listener: 403, otherMusician: 403, owner: 201, admin: 201 } },
    { name: 'PATCH /api/albums/:id', cell: async () => ({ method: 'PATCH', url: `/api/albums/${await album()}`, body: { year: 1999 } }), expect: { anonymous: 401, listener: 403, otherMusician: 403, owner: 200, admin: 200 } },
    { name: 'DELETE /api/albums/:id', cell: async () => ({ method: 'DELETE', url: `/api/albums/${await album()}` }), expect: { anonymous: 401, listener: 403, otherMusician: 403, owner: 204, admin: 204 } },
    { name: 'PATCH /api/playlists/:id', cell: async () => ({ method: 'PATCH', url: `/api/playlists/${(await playlist()).id}`, body: { name: 'Mine now' } }), expect: { anonymous: 401, listener: 403, otherMusician: 403, owner: 200, admin: 200 } },
    { name: 'DELETE /api/playlists/:id', cell: async () => ({ method: 'DELETE', url: `/api/playlists/${(await playlist()).id}` }), expect: { anonymous: 401, listener: 403, otherMusician: 403, owner: 204, admin: 204 } },
    { name: 'POST /api/playlists/:id/tracks', cell: async () => ({ method: 'POST', url: `/api/playlists/${(await playlist()).id}/tracks`, body: { trackId: await track() } }), expect: { anonymous: 401, listener: 403, otherMusician: 403, owner: 201, admin: 201 } },
    { name: 'PATCH /api/playlists/:id/tracks/:itemId', cell: async () => { const p = await playlist(); return { method: 'PATCH', url: `/api/playlists/${p.id}/tracks/${p.itemId}`, body: { position: 0 } }; }, expect: { anonymous: 401, listener: 403, otherMusician: 403, owner: 200, admin: 200 } },
    { name: 'DELETE /api/playlists/:id/tracks/:itemId', cell: async () => { const p = await playlist(); return { method: 'DELETE', url: `/api/playlists/${p.id}/tracks/${p.itemId}` }; }, expect: { anonymous: 401, listener: 403, otherMusician: 403, owner: 204, admin: 204 } },
    { name: 'POST /api/playlists', cell: async () => ({ method: 'POST', url: '/api/playlists', body: { name: 'Any user' } }), expect: { anonymous: 401, listener: 201, otherMusician: 201, owner: 201, admin: 201 } },
    { name: 'PUT /api/tracks/:id/like', cell: async () => ({ method: 'PUT', url: `/api/tracks/${await track()}/like` }), expect: { anonymous: 401, listener: 204, otherMusician: 204, owner: 204, admin: 204 } },
    { name: 'DELETE /api/tracks/:id/like', cell: async () => ({ method: 'DELETE', url: `/api/tracks/${await track()}/like` }), expect: { anonymous: 401, listener: 204, otherMusician: 204, owner: 204, admin: 204 } },
    { name: 'PUT /api/artists/:id/follow', cell: async () => ({ method: 'PUT', url: `/api/artists/${owner.me!.artistId}/follow` }), expect: { anonymous: 401, listener: 204, otherMusician: 204, owner: 204, admin: 204 } },
    { name: 'DELETE /api/artists/:id/follow', cell: async () => ({ method: 'DELETE', url: `/api/artists/${owner.me!.artistId}/follow` }), expect: { anonymous: 401, listener: 204, otherMusician: 204, owner: 204, admin: 204 } },
    { name: 'POST /api/auth/tokens', cell: async () => ({ method: 'POST', url: '/api/auth/tokens', body: { name: 'matrix' } }), expect: { anonymous: 401, listener: 201, otherMusician: 201, owner: 201, admin: 201 } },
    { name: 'PATCH /api/me', cell: async () => ({ method: 'PATCH', url: '/api/me', body: { displayName: 'Still me' } }), expect: { anonymous: 401, listener: 200, otherMusician: 200, owner: 200, admin: 200 } },
  ];

  for (const row of matrix) {
    it(row.name, async () => {
      const got = {} as Record<Actor, number>;
      for (const actor of ACTORS) {
        const cell = await row.cell();
        const r = await clients[actor].req(cell.method, cell.url, cell.body);
        got[actor] = r.status;
        if (r.status >= 400) assert.match(r.headers.get('content-type') ?? '', /application\/problem\+json/, `${actor}: problem+json`);
      }
      assert.deepEqual(got, row.expect);
    });
  }

  it('unpublished tracks: other users get 404 (not 403) so drafts do not leak', async () => {
    const { draftTrack } = await import('./helpers');
    const id = await draftTrack(t, owner, 'Secret draft');
    for (const actor of ['anonymous', 'listener', 'otherMusician'] as const) {
      const r = await clients[actor].patch(`/api/tracks/${id}`, { title: 'x' });
      assert.equal(r.status, 404, actor);
    }
    assert.equal((await clients.admin.get(`/api/tracks/${id}`)).body.status, 'processing');
  });
});
