/**
 * The catalog API under /api: tracks (list, search, read, owner edits), artists, albums, playlists,
 * likes and follows. Handlers are thin: validate (zod) -> authorise -> query. Lists use keyset cursors
 * over a unique sort key, so pages never skip or repeat rows however the table grows.
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { sql, type Kysely } from 'kysely';
import { AppError } from '@platform/errors';
import { parseOr400 } from '@platform/http';
import type { PlatformDeps } from '@platform/runtime';
import {
  MAX_PLAYLIST_ITEMS, ZAddPlaylistItemRequest, ZCreateAlbumRequest, ZCreatePlaylistRequest, ZIdParams, ZListTracksRequest,
  ZMovePlaylistItemRequest, ZPageQuery, ZPlaylistItemParams, ZSearchArtistsRequest, ZUpdateAlbumRequest, ZUpdateArtistRequest,
  ZUpdatePlaylistRequest, ZUpdateTrackRequest, type TListTracksRequest, type TPlaylist, type TTrack,
} from '@platform/models';
import { CACHE_PURGE_TOPIC, cachePurgeMessage } from '@platform/models';
import { requireRole, requireUser, type SessionUser } from './auth-context';
import { decodeCursor, page } from './cursor';
import { asCatalogDb, type CatalogDb, type DB } from './db/schema';
import { Documents, type ArtistRecord, type DocumentCacheOptions } from './documents';
import { catalogMetrics } from './metrics';
import {
  coverVersion,
  ensureAlbum, ensureArtist, refreshArtistSearchKey, refreshTrackSearchKeys, toTrackRecord, trackSelect, type TrackRecord,
} from './tracks';

export interface CatalogRoutesOptions {
  documentCache?: DocumentCacheOptions;
}

// ---- rendering and permissions -------------------------------------------------------------

function isPrivileged(user: SessionUser | null, ownerUserId: string | null): boolean {
  return Boolean(user && (user.role === 'admin' || (ownerUserId !== null && user.id === ownerUserId)));
}

/** Listeners see the published version as `ready`; the owner and admins see the live state. */
export function renderTrack(t: TrackRecord, viewer: SessionUser | null): TTrack {
  const privileged = isPrivileged(viewer, t.ownerUserId);
  const status = privileged ? t.status : 'ready';
  return {
    id: t.id,
    title: t.title,
    artist: t.artistName,
    artistId: t.artistId,
    album: t.albumTitle,
    albumId: t.albumId,
    genre: t.genre,
    trackNumber: t.trackNumber,
    year: t.year,
    status,
    ...(status === 'failed' && t.errorCode ? { error: { code: t.errorCode, detail: t.errorDetail ?? '' } } : {}),
    durationMs: t.durationMs,
    renditions: t.renditions,
    ...(t.loudness ? { loudness: t.loudness } : {}),
    hasCover: t.coverKey !== null,
    ...(t.coverKey ? { coverVersion: coverVersion(t.coverKey) } : {}),
    publishedAt: t.publishedAt,
    ...(privileged ? { version: t.currentVersion, publishedVersion: t.publishedVersion } : {}),
  };
}

function canSee(t: TrackRecord, viewer: SessionUser | null): boolean {
  return t.publishedVersion !== null || isPrivileged(viewer, t.ownerUserId);
}

const notFound = (what: string) => new AppError('not_found', `No ${what} with this id (or it is not visible to you).`);

/** Write access to something owned by `ownerUserId`: 401 anonymous, 403 anyone but owner/admin. */
function requireOwner(request: FastifyRequest, ownerUserId: string | null, what: string): SessionUser {
  const user = requireUser(request);
  if (user.role === 'admin') return user;
  if (user.role !== 'musician') throw new AppError('forbidden', `Only the musician who owns this ${what} (or an admin) can change it.`);
  if (ownerUserId === null || ownerUserId !== user.id) throw new AppError('forbidden', `This ${what} belongs to another musician; you can only change your own.`);
  return user;
}

/** Published tracks, plus the viewer's own in any state. */
function visibleTo(viewer: SessionUser | null) {
  return viewer?.role === 'admin'
    ? sql<boolean>`true`
    : viewer
      ? sql<boolean>`(t.published_version is not null or a.owner_user_id = ${viewer.id})`
      : sql<boolean>`t.published_version is not null`;
}

/** Keyed by the text form of the timestamp so microseconds survive the round trip. */
const tsText = (col: string) => sql<string>`${sql.ref(col)}::text`;

function playlistSelect(db: CatalogDb) {
  return db
    .selectFrom('playlists as p')
    .innerJoin('users as u', 'u.id', 'p.user_id')
    .select(['p.id', 'p.user_id', 'u.display_name', 'p.name', 'p.description', 'p.is_public', 'p.created_at', 'p.updated_at'])
    .select(sql<string>`(select count(*) from playlist_items i where i.user_id = p.user_id and i.playlist_id = p.id)`.as('item_count'))
    .select(tsText('p.created_at').as('created_text'));
}
type PlaylistRow = Awaited<ReturnType<ReturnType<typeof playlistSelect>['executeTakeFirstOrThrow']>>;

function renderPlaylist(p: PlaylistRow): TPlaylist {
  return {
    id: p.id,
    ownerId: p.user_id,
    ownerName: p.display_name,
    name: p.name,
    description: p.description,
    isPublic: p.is_public,
    itemCount: Number(p.item_count),
    createdAt: new Date(p.created_at).toISOString(),
    updatedAt: new Date(p.updated_at).toISOString(),
  };
}

/** The normalised search key and a prefix tsquery built from it ("mumii trol" -> 'mumii:* & trol:*'). */
async function searchTerms(db: CatalogDb, q: string): Promise<{ key: string; tsquery: string | null }> {
  const r = await sql<{ key: string | null }>`select catalog_search_key(${q}) as key`.execute(db);
  const key = r.rows[0]?.key ?? '';
  const words = key
    .split(' ')
    .map((w) => w.replace(/[^\p{L}\p{N}]/gu, ''))
    .filter(Boolean)
    .slice(0, 8);
  return { key, tsquery: words.length ? words.map((w) => `${w}:*`).join(' & ') : null };
}

// ---- the plugin ----------------------------------------------------------------------------

export function catalogRoutes(deps: PlatformDeps, opts: CatalogRoutesOptions = {}): FastifyPluginAsync {
  const db = asCatalogDb(deps.sql);
  const metrics = catalogMetrics(deps.metrics);
  const docs = new Documents(db, deps.cache, metrics, deps.logger, opts.documentCache);

  async function visibleTrack(id: string, viewer: SessionUser | null): Promise<TrackRecord> {
    const t = await docs.track(id);
    if (!t || !canSee(t, viewer)) throw notFound('track');
    return t;
  }

  async function listTracks(viewer: SessionUser | null, q: TListTracksRequest) {
    // Drafts show up only on an artist's own list (the portal); feeds and search show what can play.
    const withDrafts = Boolean(viewer && viewer.role !== 'listener' && q.artistId && !q.q);
    const filters = (qb: ReturnType<typeof trackSelect>) => {
      let b = qb.where(withDrafts ? visibleTo(viewer) : sql<boolean>`t.published_version is not null`);
      if (q.artistId) b = b.where('t.artist_id', '=', q.artistId);
      if (q.albumId) b = b.where('t.album_id', '=', q.albumId);
      if (q.genre) b = b.where(sql<boolean>`lower(t.genre) = lower(${q.genre})`);
      return b;
    };
    const terms = q.q ? await searchTerms(db, q.q) : null;
    if (terms && terms.key) {
      // Full-text (prefix words) OR trigram word similarity (typos, partial words); ranked by both.
      const fts = terms.tsquery ? sql<boolean>`t.search_tsv @@ to_tsquery('simple'::regconfig, ${terms.tsquery})` : sql<boolean>`false`;
      const score = sql<number>`(word_similarity(${terms.key}, t.search_key) + similarity(${terms.key}, t.search_key) * 0.5 + case when ${fts} then 0.5 else 0 end)::float8`;
      const inner = filters(trackSelect(db))
        .select(score.as('score'))
        .where((eb) => eb.or([fts, sql<boolean>`${terms.key} <% t.search_key`]));
      const cur = decodeCursor(q.cursor, ['number', 'uuid']);
      const rows = await db.transaction().execute(async (trx) => {
        // Looser than the 0.6 default so one typo in a short word still matches ("bjrok" scores 0.33 against "bjork"); ranking puts close matches first.
        await sql`set local pg_trgm.word_similarity_threshold = 0.3`.execute(trx);
        let outer = (trx as unknown as Kysely<DB & { s: Record<string, unknown> }>).selectFrom(inner.as('s')).selectAll();
        if (cur) outer = outer.where(sql<boolean>`(s.score < ${cur[0]} or (s.score = ${cur[0]} and s.id > ${cur[1]}))`);
        return outer.orderBy(sql`s.score desc`).orderBy(sql`s.id asc`).limit(q.limit + 1).execute();
      });
      type Row = Parameters<typeof toTrackRecord>[0] & { score: number };
      return page(rows as unknown as Row[], q.limit, (r) => [r.score, r.id], (r) => renderTrack(toTrackRecord(r), viewer));
    }
    // Newest first. Published-only lists sort on published_at, which the partial index
    // tracks_published_idx serves directly; an owner's artist list also has drafts, by creation time.
    const sortTs = withDrafts ? sql<Date>`coalesce(t.published_at, t.created_at)` : sql<Date>`t.published_at`;
    const cur = decodeCursor(q.cursor, ['ts', 'uuid']);
    let b = filters(trackSelect(db)).select(sql<string>`${sortTs}::text`.as('sort_ts'));
    if (cur) b = b.where(sql<boolean>`(${sortTs}, t.id) < (${cur[0]}::timestamptz, ${cur[1]}::uuid)`);
    const rows = await b.orderBy(sql`${sortTs} desc`).orderBy('t.id', 'desc').limit(q.limit + 1).execute();
    return page(rows, q.limit, (r) => [r.sort_ts, r.id], (r) => renderTrack(toTrackRecord(r), viewer));
  }

  async function loadPlaylist(id: string, viewer: SessionUser | null, forWrite: boolean): Promise<PlaylistRow> {
    const p = await playlistSelect(db).where('p.id', '=', id).executeTakeFirst();
    const isOwner = Boolean(viewer && p && viewer.id === p.user_id);
    if (!p || (!p.is_public && !isOwner && viewer?.role !== 'admin')) throw notFound('playlist');
    if (forWrite) {
      const u = requireUser({ user: viewer } as FastifyRequest);
      if (!isOwner && u.role !== 'admin') throw new AppError('forbidden', 'Only the owner of this playlist can change it.');
    }
    return p;
  }

  /** Rewrite positions of a playlist to match `order` (item ids), touching only rows that moved. */
  async function writeOrder(trx: CatalogDb, p: { user_id: string; id: string }, current: Array<{ id: string; position: number }>, order: string[]): Promise<void> {
    const was = new Map(current.map((x) => [x.id, x.position]));
    const changed = order.map((id, i) => ({ id, i })).filter(({ id, i }) => was.get(id) !== i);
    if (!changed.length) return;
    const values = sql.join(changed.map(({ id, i }) => sql`(${id}::uuid, ${i}::int)`));
    await sql`update playlist_items pi set position = v.pos from (values ${values}) as v(id, pos)
      where pi.user_id = ${p.user_id} and pi.id = v.id`.execute(trx);
  }

  async function lockItems(trx: CatalogDb, p: { user_id: string; id: string }) {
    // The playlist row lock serialises concurrent edits of one playlist (two tabs moving items).
    await sql`select 1 from playlists where user_id = ${p.user_id} and id = ${p.id} for update`.execute(trx);
    return trx
      .selectFrom('playlist_items')
      .select(['id', 'position', 'track_id'])
      .where('user_id', '=', p.user_id)
      .where('playlist_id', '=', p.id)
      .orderBy('position')
      .orderBy('id')
      .execute();
  }

  const plugin = async (app: FastifyInstance) => {
    // ---- tracks ----
    app.get('/api/tracks', async (request) => {
      const q = parseOr400(ZListTracksRequest, request.query, 'query');
      // Anonymous visitors and listeners all see the same published catalog: their pages are shared.
      const shared = !request.user || request.user.role === 'listener';
      return shared ? docs.list(['tracks', q], () => listTracks(null, q)) : listTracks(request.user, q);
    });

    app.get('/api/tracks/:id', async (request) => {
      const { id } = parseOr400(ZIdParams, request.params, 'params');
      return renderTrack(await visibleTrack(id, request.user), request.user);
    });

    app.patch('/api/tracks/:id', async (request) => {
      const { id } = parseOr400(ZIdParams, request.params, 'params');
      const body = parseOr400(ZUpdateTrackRequest, request.body);
      const t = await visibleTrack(id, request.user);
      requireOwner(request, t.ownerUserId, 'track');
      const newArtistId = await db.transaction().execute(async (trx) => {
        let artistId = t.artistId;
        if (body.artist !== undefined) artistId = await ensureArtist(trx, { ownerUserId: t.ownerUserId, name: body.artist });
        let albumId: string | null | undefined;
        if (body.album === null) albumId = null;
        else if (body.album !== undefined) albumId = await ensureAlbum(trx, { artistId, title: body.album });
        else if (artistId !== t.artistId) albumId = t.albumTitle ? await ensureAlbum(trx, { artistId, title: t.albumTitle }) : null;
        await trx
          .updateTable('tracks')
          .set({
            ...(body.title !== undefined ? { title: body.title } : {}),
            ...(body.genre !== undefined ? { genre: body.genre } : {}),
            ...(body.trackNumber !== undefined ? { track_number: body.trackNumber } : {}),
            ...(body.year !== undefined ? { year: body.year } : {}),
            ...(albumId !== undefined ? { album_id: albumId } : {}),
            artist_id: artistId,
            updated_at: new Date(),
          })
          .where('id', '=', id)
          .execute();
        await refreshTrackSearchKeys(trx, { trackId: id });
        return artistId;
      });
      // After the commit: an invalidation inside the transaction lets a reader cache the old row again.
      await docs.invalidateArtists(t.artistId, newArtistId);
      await docs.invalidateTracks(id);
      return renderTrack((await docs.track(id))!, request.user);
    });

    app.delete('/api/tracks/:id', async (request, reply) => {
      const { id } = parseOr400(ZIdParams, request.params, 'params');
      const t = await visibleTrack(id, request.user);
      requireOwner(request, t.ownerUserId, 'track');
      await db.deleteFrom('tracks').where('id', '=', id).execute();
      await docs.invalidateTracks(id);
      await docs.invalidateArtists(t.artistId);
      request.log.info({ trackId: id }, 'track deleted');
      // Edges hold immutable segments and listeners' grants stay valid until they expire: every edge
      // drops the track on this message (410 from then on). Without a bus (some tests) nothing to tell.
      const bus = deps.bus as PlatformDeps['bus'] | undefined;
      if (bus) {
        await bus
          .send(CACHE_PURGE_TOPIC, [cachePurgeMessage({ trackId: id, reason: 'deleted' })])
          .catch((err: unknown) => request.log.error({ err, trackId: id }, 'cache purge not sent: edges keep serving the deleted track until its grants expire'));
      }
      // No grant can be issued any more (the row is gone); the bytes go in the background, best effort:
      // packaged versions (tracks/<id>/v<n>/), covers and the original upload.
      const objects = deps.objects as PlatformDeps['objects'] | undefined;
      if (objects) {
        void (async () => {
          // Cover layouts (ingest): `<coverKey>/<size>.jpg`, a `{size}` template, or one image file.
          const cover = t.coverKey;
          const coverPrefix = !cover ? null : cover.includes('{size}') ? cover.slice(0, cover.indexOf('{size}')) : /\.(jpe?g|png|webp)$/i.test(cover) ? cover : `${cover}/`;
          const removed = (await objects.deletePrefix(`tracks/${id}/`)) + (coverPrefix ? await objects.deletePrefix(coverPrefix) : 0);
          if (t.originalKey) await objects.delete(t.originalKey);
          request.log.info({ trackId: id, removed }, 'track media deleted');
        })().catch((err: unknown) => request.log.warn({ err, trackId: id }, 'track media cleanup failed; objects stay until a sweep'));
      }
      return reply.code(204).send();
    });

    app.put('/api/tracks/:id/like', async (request, reply) => {
      const { id } = parseOr400(ZIdParams, request.params, 'params');
      const user = requireUser(request);
      await visibleTrack(id, user);
      // Idempotent: liking twice is the same as liking once.
      await db.insertInto('likes').values({ user_id: user.id, track_id: id }).onConflict((oc) => oc.columns(['user_id', 'track_id']).doNothing()).execute();
      return reply.code(204).send();
    });

    app.delete('/api/tracks/:id/like', async (request, reply) => {
      const { id } = parseOr400(ZIdParams, request.params, 'params');
      const user = requireUser(request);
      await db.deleteFrom('likes').where('user_id', '=', user.id).where('track_id', '=', id).execute();
      return reply.code(204).send();
    });

    // ---- artists ----
    app.get('/api/artists', async (request) => {
      const q = parseOr400(ZSearchArtistsRequest, request.query, 'query');
      const terms = q.q ? await searchTerms(db, q.q) : null;
      if (terms?.key) {
        const cur = decodeCursor(q.cursor, ['number', 'uuid']);
        const rows = await db.transaction().execute(async (trx) => {
          await sql`set local pg_trgm.word_similarity_threshold = 0.3`.execute(trx);
          const r = await sql<{ id: string; name: string; bio: string | null; owner_user_id: string | null; score: number }>`
            select * from (
              select id, name, bio, owner_user_id, (word_similarity(${terms.key}, search_key) + similarity(${terms.key}, search_key))::float8 as score
              from artists where ${terms.key} <% search_key or search_key like ${terms.key.replace(/[%_\\]/g, '\\$&') + '%'}
            ) s
            ${cur ? sql`where s.score < ${cur[0]} or (s.score = ${cur[0]} and s.id > ${cur[1]})` : sql``}
            order by s.score desc, s.id asc limit ${q.limit + 1}`.execute(trx);
          return r.rows;
        });
        return page(rows, q.limit, (r) => [r.score, r.id], (r) => ({ id: r.id, name: r.name, bio: r.bio, ownerUserId: r.owner_user_id }));
      }
      const cur = decodeCursor(q.cursor, ['ts', 'uuid']);
      let b = db.selectFrom('artists').select(['id', 'name', 'bio', 'owner_user_id']).select(tsText('created_at').as('created_text'));
      if (cur) b = b.where(sql<boolean>`(created_at, id) < (${cur[0]}::timestamptz, ${cur[1]}::uuid)`);
      const rows = await b.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(q.limit + 1).execute();
      return page(rows, q.limit, (r) => [r.created_text, r.id], (r) => ({ id: r.id, name: r.name, bio: r.bio, ownerUserId: r.owner_user_id }));
    });

    app.get('/api/artists/:id', async (request) => {
      const { id } = parseOr400(ZIdParams, request.params, 'params');
      const a = await docs.artist(id);
      if (!a) throw notFound('artist');
      return a satisfies ArtistRecord;
    });

    app.get('/api/artists/:id/tracks', async (request) => {
      const { id } = parseOr400(ZIdParams, request.params, 'params');
      const q = parseOr400(ZPageQuery, request.query, 'query');
      if (!(await docs.artist(id))) throw notFound('artist');
      return listTracks(request.user, { ...q, artistId: id });
    });

    app.patch('/api/artists/:id', async (request) => {
      const { id } = parseOr400(ZIdParams, request.params, 'params');
      const body = parseOr400(ZUpdateArtistRequest, request.body);
      const a = await docs.artist(id);
      if (!a) throw notFound('artist');
      requireOwner(request, a.ownerUserId, 'artist');
      const trackIds = await db.transaction().execute(async (trx) => {
        await trx
          .updateTable('artists')
          .set({ ...(body.name !== undefined ? { name: body.name } : {}), ...(body.bio !== undefined ? { bio: body.bio } : {}), updated_at: new Date() })
          .where('id', '=', id)
          .execute();
        if (body.name === undefined) return [];
        await refreshArtistSearchKey(trx, id);
        await refreshTrackSearchKeys(trx, { artistId: id });
        return (await trx.selectFrom('tracks').select('id').where('artist_id', '=', id).execute()).map((r) => r.id);
      });
      // Track documents carry the artist name: a rename invalidates all of them.
      await docs.invalidateArtists(id);
      for (let i = 0; i < trackIds.length; i += 500) await docs.invalidateTracks(...trackIds.slice(i, i + 500));
      return (await docs.artist(id))!;
    });

    app.put('/api/artists/:id/follow', async (request, reply) => {
      const { id } = parseOr400(ZIdParams, request.params, 'params');
      const user = requireUser(request);
      if (!(await docs.artist(id))) throw notFound('artist');
      const res = await db.insertInto('follows').values({ user_id: user.id, artist_id: id }).onConflict((oc) => oc.columns(['user_id', 'artist_id']).doNothing()).executeTakeFirst();
      if (Number(res.numInsertedOrUpdatedRows ?? 0) > 0) await docs.invalidateArtists(id);
      return reply.code(204).send();
    });

    app.delete('/api/artists/:id/follow', async (request, reply) => {
      const { id } = parseOr400(ZIdParams, request.params, 'params');
      const user = requireUser(request);
      const res = await db.deleteFrom('follows').where('user_id', '=', user.id).where('artist_id', '=', id).executeTakeFirst();
      if (Number(res.numDeletedRows) > 0) await docs.invalidateArtists(id);
      return reply.code(204).send();
    });

    // ---- albums ----
    async function loadAlbum(id: string) {
      const al = await db
        .selectFrom('albums as al')
        .innerJoin('artists as a', 'a.id', 'al.artist_id')
        .select(['al.id', 'al.title', 'al.year', 'al.artist_id', 'a.name as artist_name', 'a.owner_user_id', 'al.cover_key'])
        .where('al.id', '=', id)
        .executeTakeFirst();
      if (!al) throw notFound('album');
      return al;
    }

    app.get('/api/albums/:id', async (request) => {
      const { id } = parseOr400(ZIdParams, request.params, 'params');
      const al = await loadAlbum(id);
      const tracks = await trackSelect(db)
        .where('t.album_id', '=', id)
        .where(visibleTo(request.user))
        .orderBy(sql`t.track_number nulls last`)
        .orderBy('t.created_at')
        .orderBy('t.id')
        .limit(MAX_PLAYLIST_ITEMS)
        .execute();
      return {
        id: al.id,
        title: al.title,
        year: al.year,
        artistId: al.artist_id,
        artist: al.artist_name,
        hasCover: al.cover_key !== null,
        tracks: tracks.map((r) => renderTrack(toTrackRecord(r), request.user)),
      };
    });

    app.post('/api/albums', async (request, reply) => {
      const body = parseOr400(ZCreateAlbumRequest, request.body);
      const user = requireRole(request, 'musician');
      let artistId = body.artistId ?? user.artistId;
      if (!artistId) throw new AppError('validation_failed', 'body.artistId: is required for accounts without an artist profile.');
      if (body.artistId) {
        const a = await docs.artist(body.artistId);
        if (!a) throw notFound('artist');
        requireOwner(request, a.ownerUserId, 'artist');
        artistId = a.id;
      }
      const exists = await db.selectFrom('albums').select('id').where('artist_id', '=', artistId).where(sql<boolean>`lower(title) = lower(${body.title})`).executeTakeFirst();
      if (exists) throw new AppError('conflict', 'This artist already has an album with this title.', { extra: { albumId: exists.id } });
      const id = await ensureAlbum(db, { artistId, title: body.title, year: body.year ?? null });
      await docs.invalidateArtists(artistId);
      const al = await loadAlbum(id);
      return reply.code(201).send({ id: al.id, title: al.title, year: al.year, artistId: al.artist_id, artist: al.artist_name, hasCover: false, tracks: [] });
    });

    app.patch('/api/albums/:id', async (request) => {
      const { id } = parseOr400(ZIdParams, request.params, 'params');
      const body = parseOr400(ZUpdateAlbumRequest, request.body);
      const al = await loadAlbum(id);
      requireOwner(request, al.owner_user_id, 'album');
      let trackIds: string[] = [];
      try {
        trackIds = await db.transaction().execute(async (trx) => {
          await trx
            .updateTable('albums')
            .set({ ...(body.title !== undefined ? { title: body.title } : {}), ...(body.year !== undefined ? { year: body.year } : {}), updated_at: new Date() })
            .where('id', '=', id)
            .execute();
          await refreshTrackSearchKeys(trx, { albumId: id });
          return (await trx.selectFrom('tracks').select('id').where('album_id', '=', id).execute()).map((r) => r.id);
        });
      } catch (e) {
        if ((e as { code?: string }).code === '23505') throw new AppError('conflict', 'This artist already has an album with this title.');
        throw e;
      }
      await docs.invalidateArtists(al.artist_id);
      for (let i = 0; i < trackIds.length; i += 500) await docs.invalidateTracks(...trackIds.slice(i, i + 500));
      const fresh = await loadAlbum(id);
      return { id: fresh.id, title: fresh.title, year: fresh.year, artistId: fresh.artist_id, artist: fresh.artist_name, hasCover: fresh.cover_key !== null };
    });

    app.delete('/api/albums/:id', async (request, reply) => {
      const { id } = parseOr400(ZIdParams, request.params, 'params');
      const al = await loadAlbum(id);
      requireOwner(request, al.owner_user_id, 'album');
      // The tracks stay (album_id becomes null): deleting an album never deletes music.
      const trackIds = (await db.selectFrom('tracks').select('id').where('album_id', '=', id).execute()).map((r) => r.id);
      await db.transaction().execute(async (trx) => {
        await trx.deleteFrom('albums').where('id', '=', id).execute();
        for (const tid of trackIds) await refreshTrackSearchKeys(trx, { trackId: tid });
      });
      await docs.invalidateArtists(al.artist_id);
      if (trackIds.length) await docs.invalidateTracks(...trackIds);
      return reply.code(204).send();
    });

    // ---- playlists ----
    app.post('/api/playlists', async (request, reply) => {
      const body = parseOr400(ZCreatePlaylistRequest, request.body);
      const user = requireUser(request);
      const row = await db
        .insertInto('playlists')
        .values({ user_id: user.id, name: body.name, description: body.description ?? null, is_public: body.isPublic })
        .returning('id')
        .executeTakeFirstOrThrow();
      const p = await playlistSelect(db).where('p.user_id', '=', user.id).where('p.id', '=', row.id).executeTakeFirstOrThrow();
      return reply.code(201).send(renderPlaylist(p));
    });

    app.get('/api/playlists/:id', async (request) => {
      const { id } = parseOr400(ZIdParams, request.params, 'params');
      const q = parseOr400(ZPageQuery.extend({ limit: ZPageQuery.shape.limit.unwrap().max(500).default(100) }), request.query, 'query');
      const p = await loadPlaylist(id, request.user, false);
      const cur = decodeCursor(q.cursor, ['int', 'uuid']);
      let b = trackSelect(db)
        .innerJoin('playlist_items as i', 'i.track_id', 't.id')
        .select(['i.id as item_id', 'i.position', 'i.added_at'])
        .where('i.user_id', '=', p.user_id)
        .where('i.playlist_id', '=', p.id)
        .where(visibleTo(request.user));
      if (cur) b = b.where(sql<boolean>`(i.position, i.id) > (${cur[0]}::int, ${cur[1]}::uuid)`);
      const rows = await b.orderBy('i.position').orderBy('i.id').limit(q.limit + 1).execute();
      const items = page(rows, q.limit, (r) => [r.position, r.item_id], (r) => ({
        itemId: r.item_id,
        position: r.position,
        addedAt: new Date(r.added_at).toISOString(),
        track: renderTrack(toTrackRecord(r), request.user),
      }));
      return { ...renderPlaylist(p), items: items.items, nextCursor: items.nextCursor };
    });

    app.patch('/api/playlists/:id', async (request) => {
      const { id } = parseOr400(ZIdParams, request.params, 'params');
      const body = parseOr400(ZUpdatePlaylistRequest, request.body);
      const p = await loadPlaylist(id, request.user, true);
      await db
        .updateTable('playlists')
        .set({
          ...(body.name !== undefined ? { name: body.name } : {}),
          ...(body.description !== undefined ? { description: body.description } : {}),
          ...(body.isPublic !== undefined ? { is_public: body.isPublic } : {}),
          updated_at: new Date(),
        })
        .where('user_id', '=', p.user_id)
        .where('id', '=', p.id)
        .execute();
      return renderPlaylist(await playlistSelect(db).where('p.user_id', '=', p.user_id).where('p.id', '=', p.id).executeTakeFirstOrThrow());
    });

    app.delete('/api/playlists/:id', async (request, reply) => {
      const { id } = parseOr400(ZIdParams, request.params, 'params');
      const p = await loadPlaylist(id, request.user, true);
      await db.deleteFrom('playlists').where('user_id', '=', p.user_id).where('id', '=', p.id).execute();
      return reply.code(204).send();
    });

    app.post('/api/playlists/:id/tracks', async (request, reply) => {
      const { id } = parseOr400(ZIdParams, request.params, 'params');
      const body = parseOr400(ZAddPlaylistItemRequest, request.body);
      const p = await loadPlaylist(id, request.user, true);
      await visibleTrack(body.trackId, request.user);
      const result = await db.transaction().execute(async (trx) => {
        const items = await lockItems(trx, p);
        if (items.length >= MAX_PLAYLIST_ITEMS) throw new AppError('conflict', `A playlist holds at most ${MAX_PLAYLIST_ITEMS} tracks; start another one.`);
        const position = Math.min(body.position ?? items.length, items.length);
        const inserted = await trx
          .insertInto('playlist_items')
          .values({ user_id: p.user_id, playlist_id: p.id, track_id: body.trackId, position: items.length })
          .returning('id')
          .executeTakeFirstOrThrow();
        const order = items.map((x) => x.id);
        order.splice(position, 0, inserted.id);
        await writeOrder(trx, p, [...items, { id: inserted.id, position: items.length }], order);
        await trx.updateTable('playlists').set({ updated_at: new Date() }).where('user_id', '=', p.user_id).where('id', '=', p.id).execute();
        return { itemId: inserted.id, position };
      });
      return reply.code(201).send(result);
    });

    app.patch('/api/playlists/:id/tracks/:itemId', async (request) => {
      const { id, itemId } = parseOr400(ZPlaylistItemParams, request.params, 'params');
      const body = parseOr400(ZMovePlaylistItemRequest, request.body);
      const p = await loadPlaylist(id, request.user, true);
      return db.transaction().execute(async (trx) => {
        const items = await lockItems(trx, p);
        const from = items.findIndex((x) => x.id === itemId);
        if (from < 0) throw notFound('playlist item');
        const order = items.map((x) => x.id);
        order.splice(from, 1);
        const to = Math.min(body.position, order.length);
        order.splice(to, 0, itemId);
        await writeOrder(trx, p, items, order);
        await trx.updateTable('playlists').set({ updated_at: new Date() }).where('user_id', '=', p.user_id).where('id', '=', p.id).execute();
        return { itemId, position: to };
      });
    });

    app.delete('/api/playlists/:id/tracks/:itemId', async (request, reply) => {
      // :itemId is a playlist item id; a track id is accepted too and removes that track's first occurrence.
      const { id, itemId } = parseOr400(ZPlaylistItemParams, request.params, 'params');
      const p = await loadPlaylist(id, request.user, true);
      await db.transaction().execute(async (trx) => {
        const items = await lockItems(trx, p);
        const victim = items.find((x) => x.id === itemId) ?? items.find((x) => x.track_id === itemId);
        if (!victim) throw notFound('playlist item');
        await trx.deleteFrom('playlist_items').where('user_id', '=', p.user_id).where('id', '=', victim.id).execute();
        const rest = items.filter((x) => x.id !== victim.id);
        await writeOrder(trx, p, rest, rest.map((x) => x.id));
        await trx.updateTable('playlists').set({ updated_at: new Date() }).where('user_id', '=', p.user_id).where('id', '=', p.id).execute();
      });
      return reply.code(204).send();
    });

    // ---- the caller's library ----
    app.get('/api/me/playlists', async (request) => {
      const user = requireUser(request);
      const q = parseOr400(ZPageQuery, request.query, 'query');
      const cur = decodeCursor(q.cursor, ['ts', 'uuid']);
      let b = playlistSelect(db).where('p.user_id', '=', user.id);
      if (cur) b = b.where(sql<boolean>`(p.created_at, p.id) < (${cur[0]}::timestamptz, ${cur[1]}::uuid)`);
      const rows = await b.orderBy('p.created_at', 'desc').orderBy('p.id', 'desc').limit(q.limit + 1).execute();
      return page(rows, q.limit, (r) => [r.created_text, r.id], renderPlaylist);
    });

    app.get('/api/me/likes', async (request) => {
      const user = requireUser(request);
      const q = parseOr400(ZPageQuery, request.query, 'query');
      const cur = decodeCursor(q.cursor, ['ts', 'uuid']);
      let b = trackSelect(db)
        .innerJoin('likes as l', 'l.track_id', 't.id')
        .select(['l.created_at as liked_at'])
        .select(tsText('l.created_at').as('liked_text'))
        .where('l.user_id', '=', user.id)
        .where(visibleTo(user));
      if (cur) b = b.where(sql<boolean>`(l.created_at, l.track_id) < (${cur[0]}::timestamptz, ${cur[1]}::uuid)`);
      const rows = await b.orderBy('l.created_at', 'desc').orderBy('l.track_id', 'desc').limit(q.limit + 1).execute();
      return page(rows, q.limit, (r) => [r.liked_text, r.id], (r) => ({ ...renderTrack(toTrackRecord(r), user), likedAt: new Date(r.liked_at).toISOString() }));
    });

    app.get('/api/me/follows', async (request) => {
      const user = requireUser(request);
      const q = parseOr400(ZPageQuery, request.query, 'query');
      const cur = decodeCursor(q.cursor, ['ts', 'uuid']);
      let b = db
        .selectFrom('follows as f')
        .innerJoin('artists as a', 'a.id', 'f.artist_id')
        .select(['a.id', 'a.name', 'f.created_at'])
        .select(tsText('f.created_at').as('followed_text'))
        .where('f.user_id', '=', user.id);
      if (cur) b = b.where(sql<boolean>`(f.created_at, f.artist_id) < (${cur[0]}::timestamptz, ${cur[1]}::uuid)`);
      const rows = await b.orderBy('f.created_at', 'desc').orderBy('f.artist_id', 'desc').limit(q.limit + 1).execute();
      return page(rows, q.limit, (r) => [r.followed_text, r.id], (r) => ({ id: r.id, name: r.name, followedAt: new Date(r.created_at).toISOString() }));
    });

  };
  return plugin;
}
