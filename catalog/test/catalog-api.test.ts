/** Catalog API against real PostgreSQL + Redis: tracks, visibility, pagination, artists, albums, playlists, likes, follows, cache. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createTrack, currentGeneration, getPublishedTrack, getTrack, invalidateTrack, trackCacheKey, trackGenerationKey, markTrackFailed, markTrackReady, startTrackVersion } from '../src/index';
import { draftTrack, publishedTrack, startApp, type Client, type TestApp } from './helpers';

describe('catalog API (real PostgreSQL + Redis)', () => {
  let t: TestApp;
  let musician: Client;
  let listener: Client;
  before(async () => {
    t = await startApp({ backend: 'real' });
    musician = await t.client().signup('musician', 'Stereolab');
    listener = await t.client().signup('listener');
  });
  after(async () => t?.close());

  it('GET /api/tracks/:id has the CONTRACT shape; listeners never see unpublished tracks, the owner does', async () => {
    const id = await publishedTrack(t, musician, { title: 'French Disko', album: 'Jenny Ondioline', genre: 'Indie' });
    const r = await listener.get(`/api/tracks/${id}`);
    assert.equal(r.status, 200);
    assert.equal(r.body.id, id);
    assert.equal(r.body.title, 'French Disko');
    assert.equal(r.body.artist, 'Stereolab');
    assert.equal(r.body.album, 'Jenny Ondioline');
    assert.equal(r.body.status, 'ready');
    assert.equal(r.body.durationMs, 180000);
    assert.deepEqual(r.body.renditions, [{ codec: 'aac', bitrateKbps: 128, container: 'fmp4' }]);
    assert.equal(r.body.loudness.integratedLufs, -14.2);
    assert.equal(r.body.version, undefined, 'version details are for the owner');

    const draft = await draftTrack(t, musician, 'Unfinished');
    assert.equal((await listener.get(`/api/tracks/${draft}`)).status, 404);
    assert.equal((await t.client().get(`/api/tracks/${draft}`)).status, 404);
    const own = await musician.get(`/api/tracks/${draft}`);
    assert.equal(own.status, 200);
    assert.equal(own.body.status, 'processing');
    const list = await listener.get('/api/tracks?limit=100');
    assert.ok(!list.body.items.some((x: { id: string }) => x.id === draft));
    assert.ok(!(await musician.get('/api/tracks?limit=100')).body.items.some((x: { id: string }) => x.id === draft), 'feeds show only playable tracks');
    const portal = await musician.get(`/api/tracks?artistId=${musician.me!.artistId}&limit=100`);
    assert.equal(portal.body.items.find((x: { id: string }) => x.id === draft)?.status, 'processing', 'the owner sees drafts on their artist list');
    assert.ok(!(await listener.get(`/api/tracks?artistId=${musician.me!.artistId}&limit=100`)).body.items.some((x: { id: string }) => x.id === draft));
  });

  it('versions: markTrackReady publishes forward only, is idempotent; failures of a newer version keep the old one playing', async () => {
    const { id, version } = await createTrack(t.deps.sql, { artistId: musician.me!.artistId!, title: 'Versioned' });
    assert.equal(version, 1);
    assert.equal(await getPublishedTrack(t.deps.sql, id), null);
    const ready = { trackId: id, version: 1, durationMs: 1000, loudness: null, renditions: [{ codec: 'opus', bitrateKbps: 96, container: 'fmp4' }] };
    assert.equal(await markTrackReady(t.deps.sql, ready), true);
    assert.equal(await markTrackReady(t.deps.sql, ready), true, 'idempotent');
    const v2 = await startTrackVersion(t.deps.sql, { trackId: id });
    assert.equal(v2, 2);
    assert.equal((await getPublishedTrack(t.deps.sql, id))!.publishedVersion, 1, 'v1 keeps playing while v2 processes');
    assert.equal(await markTrackFailed(t.deps.sql, { trackId: id, version: 1, code: 'stale', detail: 'old' }), false, 'a stale failure is ignored');
    assert.equal(await markTrackFailed(t.deps.sql, { trackId: id, version: 2, code: 'corrupt_audio', detail: 'The file ends early.' }), true);
    await invalidateTrack(t.cache, id);
    const owner = await musician.get(`/api/tracks/${id}`);
    assert.equal(owner.body.status, 'failed');
    assert.deepEqual(owner.body.error, { code: 'corrupt_audio', detail: 'The file ends early.' });
    assert.equal((await listener.get(`/api/tracks/${id}`)).body.status, 'ready', 'listeners get the published version');
    const v3 = (await startTrackVersion(t.deps.sql, { trackId: id }))!;
    assert.equal(await markTrackReady(t.deps.sql, { ...ready, version: v3, durationMs: 3000 }), true);
    assert.equal(await markTrackReady(t.deps.sql, { ...ready, version: 1 }), false, 'never publishes backwards');
    const rec = (await getTrack(t.deps.sql, id))!;
    assert.equal(rec.publishedVersion, 3);
    assert.equal(rec.status, 'ready');
    assert.equal(rec.durationMs, 3000);
    assert.equal(rec.errorCode, null);
  });

  it('track list: cursor pagination with stable ordering (no repeats, no gaps)', async () => {
    const m = await t.client().signup('musician', 'Pager');
    const ids = new Set<string>();
    for (let i = 0; i < 7; i++) ids.add(await publishedTrack(t, m, { title: `Page ${i}` }));
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const r: { body: { items: Array<{ id: string }>; nextCursor: string | null } } = await listener.get(`/api/tracks?artistId=${m.me!.artistId}&limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...r.body.items.map((x) => x.id));
      cursor = r.body.nextCursor;
    } while (cursor);
    assert.equal(seen.length, 7);
    assert.deepEqual(new Set(seen), ids);
    const again = await listener.get(`/api/tracks?artistId=${m.me!.artistId}&limit=7`);
    assert.deepEqual(again.body.items.map((x: { id: string }) => x.id), seen, 'same order every time');
  });

  it('owner edits: PATCH title/artist/album/genre updates the document (cache invalidated) and search', async () => {
    const id = await publishedTrack(t, musician, { title: 'Old Title', album: 'Old Album' });
    assert.equal((await listener.get(`/api/tracks/${id}`)).body.title, 'Old Title'); // now cached
    const r = await musician.patch(`/api/tracks/${id}`, { title: 'New Title', album: 'New Album', genre: 'Krautrock', artist: 'Stereolab Side Project' });
    assert.equal(r.status, 200);
    assert.equal(r.body.title, 'New Title');
    assert.equal(r.body.album, 'New Album');
    assert.equal(r.body.artist, 'Stereolab Side Project');
    const fresh = await listener.get(`/api/tracks/${id}`);
    assert.equal(fresh.body.title, 'New Title');
    assert.equal(fresh.body.genre, 'Krautrock');
    const found = await listener.get(`/api/tracks?q=${encodeURIComponent('side project new title')}`);
    assert.ok(found.body.items.some((x: { id: string }) => x.id === id));
    assert.equal((await musician.patch(`/api/tracks/${id}`, { album: null })).body.album, null);
    // Deleting the track also removes its media (in the background).
    await t.deps.objects.put(`tracks/${id}/v1/master.m3u8`, '#EXTM3U');
    await t.deps.objects.put(`covers/${id}/up1/300.jpg`, 'jpeg');
    await t.deps.objects.put(`originals/${id}.wav`, 'RIFF');
    await t.deps.sql.updateTable('tracks').set({ cover_key: `covers/${id}/up1`, original_key: `originals/${id}.wav` }).where('id', '=', id).execute();
    await invalidateTrack(t.cache, id);
    assert.equal((await musician.del(`/api/tracks/${id}`)).status, 204);
    assert.equal((await listener.get(`/api/tracks/${id}`)).status, 404);
    for (let i = 0; i < 100 && (await t.deps.objects.head(`originals/${id}.wav`)); i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(await t.deps.objects.head(`tracks/${id}/v1/master.m3u8`), null);
    assert.equal(await t.deps.objects.head(`covers/${id}/up1/300.jpg`), null);
    assert.equal(await t.deps.objects.head(`originals/${id}.wav`), null);
  });

  it('document cache: hits are counted and exported as a ratio; artist edits invalidate', async () => {
    const id = await publishedTrack(t, musician, { title: 'Cached' });
    for (let i = 0; i < 5; i++) assert.equal((await listener.get(`/api/tracks/${id}`)).status, 200);
    const metrics = await (await fetch(`${t.baseUrl}/metrics`)).text();
    const hits = Number(/catalog_doc_cache_requests_total\{[^}]*doc="track"[^}]*result="hit"[^}]*\} (\d+)/.exec(metrics)?.[1] ?? /catalog_doc_cache_requests_total\{[^}]*result="hit"[^}]*doc="track"[^}]*\} (\d+)/.exec(metrics)?.[1]);
    assert.ok(hits >= 4, `track cache hits counted (${hits})`);
    const ratio = Number(/catalog_doc_cache_hit_ratio\{[^}]*doc="track"[^}]*\} ([0-9.]+)/.exec(metrics)?.[1]);
    assert.ok(ratio > 0 && ratio <= 1, `hit ratio exported (${ratio})`);

    const artistId = musician.me!.artistId!;
    assert.equal((await listener.get(`/api/artists/${artistId}`)).body.name, 'Stereolab');
    assert.equal((await musician.patch(`/api/artists/${artistId}`, { name: 'Stereolab (UK)', bio: 'Groop' })).status, 200);
    assert.equal((await listener.get(`/api/artists/${artistId}`)).body.name, 'Stereolab (UK)');
    assert.equal((await listener.get(`/api/tracks/${id}`)).body.artist, 'Stereolab (UK)', 'track documents follow the rename');
    await musician.patch(`/api/artists/${artistId}`, { name: 'Stereolab' });
  });

  it('document cache: a reader that loaded the row before a write cannot put the old document back', async () => {
    // The stale-set race of delete-on-write caches, played in order: a reader takes the generation and
    // loads the old row; the owner's PATCH commits and invalidates; the slow reader then stores what it read.
    const id = await publishedTrack(t, musician, { title: 'Racy', genre: 'Ambient' });
    const gen = await currentGeneration(t.cache, trackGenerationKey(id));
    assert.ok(gen);
    const old = await getTrack(t.deps.sql, id);
    assert.equal((await musician.patch(`/api/tracks/${id}`, { genre: 'Night Jazz' })).status, 200);
    await t.cache.set(trackCacheKey(id, gen), JSON.stringify(old), 60_000);
    assert.equal((await listener.get(`/api/tracks/${id}`)).body.genre, 'Night Jazz', 'the late write of the old row is never served');

    // Delete: the same late write must not bring the track back.
    const gen2 = await currentGeneration(t.cache, trackGenerationKey(id));
    const before = await getTrack(t.deps.sql, id);
    assert.equal((await musician.del(`/api/tracks/${id}`)).status, 204);
    await t.cache.set(trackCacheKey(id, gen2!), JSON.stringify(before), 60_000);
    assert.equal((await listener.get(`/api/tracks/${id}`)).status, 404);
    assert.equal((await musician.get(`/api/tracks/${id}`)).status, 404);

    // A generation token lost to eviction costs a miss, never an old document.
    const id2 = await publishedTrack(t, musician, { title: 'Evicted', genre: 'Dub' });
    assert.equal((await listener.get(`/api/tracks/${id2}`)).body.genre, 'Dub'); // cached now
    await t.deps.sql.updateTable('tracks').set({ genre: 'Techno' }).where('id', '=', id2).execute();
    await t.cache.del(trackGenerationKey(id2));
    assert.equal((await listener.get(`/api/tracks/${id2}`)).body.genre, 'Techno');
  });

  it('list and search pages are cached for listeners and dropped by any track write', async () => {
    const m = await t.client().signup('musician', 'Listcache');
    const first = await publishedTrack(t, m, { title: 'Cache Me One' });
    const url = `/api/tracks?artistId=${m.me!.artistId}`;
    const search = `/api/tracks?q=${encodeURIComponent('listcache')}`;
    assert.deepEqual((await listener.get(url)).body.items.map((x: { id: string }) => x.id), [first]);
    const ids = async (u: string) => (await listener.get(u)).body.items.map((x: { id: string }) => x.id) as string[];
    assert.ok((await ids(search)).includes(first));
    const artistBefore = (await listener.get(`/api/artists/${m.me!.artistId}`)).body.trackCount;
    assert.equal(artistBefore, 1);
    const second = await publishedTrack(t, m, { title: 'Cache Me Two' }); // bumps the list generation
    assert.equal((await listener.get(url)).body.items.length, 2);
    assert.ok((await ids(search)).includes(second), 'the cached search page was dropped');
    assert.equal((await listener.get(`/api/artists/${m.me!.artistId}`)).body.trackCount, 2, 'artist documents follow publication');
    await m.patch(`/api/tracks/${second}`, { title: 'Renamed Two' });
    assert.ok((await listener.get(url)).body.items.some((x: { title: string }) => x.title === 'Renamed Two'));
    await m.del(`/api/tracks/${second}`);
    assert.deepEqual((await listener.get(url)).body.items.map((x: { id: string }) => x.id), [first]);
    const metrics = await (await fetch(`${t.baseUrl}/metrics`)).text();
    assert.match(metrics, /catalog_doc_cache_requests_total\{[^}]*doc="list"/);
  });

  it('artists and albums: page, album track order, follow/unfollow idempotent, /api/me/follows', async () => {
    const m = await t.client().signup('musician', 'Album Maker');
    const a2 = await publishedTrack(t, m, { title: 'Second', album: 'LP' });
    const a1 = await publishedTrack(t, m, { title: 'First', album: 'LP' });
    await t.deps.sql.updateTable('tracks').set({ track_number: 2 }).where('id', '=', a2).execute();
    await t.deps.sql.updateTable('tracks').set({ track_number: 1 }).where('id', '=', a1).execute();
    const artist = await listener.get(`/api/artists/${m.me!.artistId}`);
    assert.equal(artist.body.trackCount, 2);
    assert.equal(artist.body.albums.length, 1);
    const album = await listener.get(`/api/albums/${artist.body.albums[0].id}`);
    assert.deepEqual(album.body.tracks.map((x: { title: string }) => x.title), ['First', 'Second']);
    assert.equal((await listener.put(`/api/artists/${m.me!.artistId}/follow`)).status, 204);
    assert.equal((await listener.put(`/api/artists/${m.me!.artistId}/follow`)).status, 204);
    assert.equal((await listener.get(`/api/artists/${m.me!.artistId}`)).body.followers, 1);
    assert.deepEqual((await listener.get('/api/me/follows')).body.items.map((x: { id: string }) => x.id), [m.me!.artistId]);
    assert.equal((await listener.del(`/api/artists/${m.me!.artistId}/follow`)).status, 204);
    assert.equal((await listener.del(`/api/artists/${m.me!.artistId}/follow`)).status, 204);
    assert.equal((await listener.get(`/api/artists/${m.me!.artistId}`)).body.followers, 0);
    const tracks = await listener.get(`/api/artists/${m.me!.artistId}/tracks?limit=1`);
    assert.equal(tracks.body.items.length, 1);
    assert.ok(tracks.body.nextCursor);
  });

  it('likes: PUT/DELETE idempotent, /api/me/likes newest first; unpublished tracks cannot be liked', async () => {
    const x = await publishedTrack(t, musician, { title: 'Like X' });
    const y = await publishedTrack(t, musician, { title: 'Like Y' });
    const c = await t.client().signup('listener');
    assert.equal((await c.put(`/api/tracks/${x}/like`)).status, 204);
    assert.equal((await c.put(`/api/tracks/${y}/like`)).status, 204);
    assert.equal((await c.put(`/api/tracks/${y}/like`)).status, 204, 'a duplicate like is idempotent');
    const likes = await c.get('/api/me/likes');
    assert.deepEqual(likes.body.items.map((i: { id: string }) => i.id), [y, x]);
    assert.equal((await c.del(`/api/tracks/${y}/like`)).status, 204);
    assert.equal((await c.del(`/api/tracks/${y}/like`)).status, 204);
    assert.deepEqual((await c.get('/api/me/likes')).body.items.map((i: { id: string }) => i.id), [x]);
    const draft = await draftTrack(t, musician, 'Not yet');
    assert.equal((await c.put(`/api/tracks/${draft}/like`)).status, 404);
  });

  it('playlists: create, add (append and insert), move, remove, rename, private/public, delete', async () => {
    const c = await t.client().signup('listener');
    const [a, b, d] = [await publishedTrack(t, musician, { title: 'PA' }), await publishedTrack(t, musician, { title: 'PB' }), await publishedTrack(t, musician, { title: 'PD' })];
    const p = await c.post('/api/playlists', { name: 'Road trip' });
    assert.equal(p.status, 201);
    assert.equal(p.body.isPublic, false);
    const pid = p.body.id;
    const ia = await c.post(`/api/playlists/${pid}/tracks`, { trackId: a });
    const ib = await c.post(`/api/playlists/${pid}/tracks`, { trackId: b });
    const id0 = await c.post(`/api/playlists/${pid}/tracks`, { trackId: d, position: 0 });
    assert.equal(ia.status, 201);
    assert.equal(id0.body.position, 0);
    const titles = async () => (await c.get(`/api/playlists/${pid}`)).body.items.map((x: { track: { title: string } }) => x.track.title);
    assert.deepEqual(await titles(), ['PD', 'PA', 'PB']);
    assert.equal((await c.patch(`/api/playlists/${pid}/tracks/${id0.body.itemId}`, { position: 2 })).status, 200);
    assert.deepEqual(await titles(), ['PA', 'PB', 'PD']);
    await c.patch(`/api/playlists/${pid}/tracks/${ib.body.itemId}`, { position: 0 });
    assert.deepEqual(await titles(), ['PB', 'PA', 'PD']);
    // The same track twice is allowed; removal by item id takes exactly that entry.
    const again = await c.post(`/api/playlists/${pid}/tracks`, { trackId: a });
    assert.deepEqual(await titles(), ['PB', 'PA', 'PD', 'PA']);
    assert.equal((await c.del(`/api/playlists/${pid}/tracks/${again.body.itemId}`)).status, 204);
    assert.deepEqual(await titles(), ['PB', 'PA', 'PD']);
    assert.equal((await c.del(`/api/playlists/${pid}/tracks/${d}`)).status, 204, 'a track id removes its first entry');
    assert.deepEqual(await titles(), ['PB', 'PA']);
    const page1 = await c.get(`/api/playlists/${pid}?limit=1`);
    const page2 = await c.get(`/api/playlists/${pid}?limit=1&cursor=${page1.body.nextCursor}`);
    assert.equal(page2.body.items[0].track.title, 'PA');
    assert.equal(page2.body.nextCursor, null);

    const other = await t.client().signup('listener');
    assert.equal((await other.get(`/api/playlists/${pid}`)).status, 404, 'private playlists are invisible');
    const renamed = await c.patch(`/api/playlists/${pid}`, { name: 'Road trip 2', isPublic: true });
    assert.equal(renamed.body.name, 'Road trip 2');
    assert.equal(renamed.body.isPublic, true);
    assert.equal((await other.get(`/api/playlists/${pid}`)).body.itemCount, 2);
    assert.equal((await t.client().get(`/api/playlists/${pid}`)).status, 200, 'public playlists are readable anonymously');
    assert.deepEqual((await c.get('/api/me/playlists')).body.items.map((x: { id: string }) => x.id), [pid]);

    // Deleting a track removes it from playlists.
    await musician.del(`/api/tracks/${b}`);
    assert.deepEqual(await titles(), ['PA']);
    assert.equal((await c.del(`/api/playlists/${pid}`)).status, 204);
    assert.equal((await c.get(`/api/playlists/${pid}`)).status, 404);
  });

  it('playlists: concurrent adds and moves keep one dense, gap-free order', async () => {
    const c = await t.client().signup('listener');
    const pid = (await c.post('/api/playlists', { name: 'Busy' })).body.id;
    const tracks: string[] = [];
    for (let i = 0; i < 6; i++) tracks.push(await publishedTrack(t, musician, { title: `Busy ${i}` }));
    const added = await Promise.all(tracks.map((trackId) => c.post(`/api/playlists/${pid}/tracks`, { trackId })));
    assert.ok(added.every((r) => r.status === 201));
    const items = async () => (await c.get(`/api/playlists/${pid}`)).body.items as Array<{ itemId: string; position: number }>;
    assert.deepEqual((await items()).map((x) => x.position), [0, 1, 2, 3, 4, 5]);
    const ids = (await items()).map((x) => x.itemId);
    await Promise.all([
      c.patch(`/api/playlists/${pid}/tracks/${ids[0]}`, { position: 5 }),
      c.patch(`/api/playlists/${pid}/tracks/${ids[5]}`, { position: 0 }),
      c.del(`/api/playlists/${pid}/tracks/${ids[2]}`),
      c.post(`/api/playlists/${pid}/tracks`, { trackId: tracks[0], position: 1 }),
    ]);
    const after = await items();
    assert.deepEqual(after.map((x) => x.position), [0, 1, 2, 3, 4, 5]);
    assert.equal(new Set(after.map((x) => x.itemId)).size, 6);
    assert.ok(!after.some((x) => x.itemId === ids[2]));
  });
});
