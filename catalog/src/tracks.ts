/**
 * Track lifecycle, shared with ingest (createTrack, startTrackVersion), the packager (markTrackReady,
 * markTrackFailed) and playback (getPublishedTrack). Versions make re-uploads safe: a version is only
 * ever published forward, and a late result for an older version never hides a newer published one.
 */
import { createHash, randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Cache } from '@platform/cache';
import { asCatalogDb, type CatalogDb, type Loudness, type Rendition, type TrackStatus } from './db/schema';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDb = Kysely<any>;

/** A track with its artist and album names: what the catalog caches and renders. */
export interface TrackRecord {
  id: string;
  artistId: string;
  artistName: string;
  /** The musician account that owns the artist (owner checks). */
  ownerUserId: string | null;
  albumId: string | null;
  albumTitle: string | null;
  title: string;
  genre: string | null;
  trackNumber: number | null;
  year: number | null;
  isrc: string | null;
  status: TrackStatus;
  errorCode: string | null;
  errorDetail: string | null;
  durationMs: number | null;
  loudness: Loudness | null;
  renditions: Rendition[];
  currentVersion: number;
  publishedVersion: number | null;
  coverKey: string | null;
  peaksKey: string | null;
  originalKey: string | null;
  notes: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
  publishedAt: string | null;
}

/**
 * Cache keys carry a generation token. A reader takes the token before it loads from PostgreSQL and
 * stores the document under that token; an invalidation replaces the token after the write committed.
 * So a slow reader that loaded the old row writes it under a token nobody asks for any more (the
 * "stale set" race of plain delete-on-write), and a token lost to eviction or expiry only costs a miss:
 * tokens are random, never reused, so a lost one never brings an old document back.
 */
const GENERATION_TTL_MS = 24 * 60 * 60_000;

export function trackGenerationKey(id: string): string {
  return `catalog:track-gen:${id}`;
}

export function trackCacheKey(id: string, generation: string): string {
  return `catalog:track:${id}:${generation}`;
}

export function artistGenerationKey(id: string): string {
  return `catalog:artist-gen:${id}`;
}

/** Artist documents hold the published track count, which any track write can change: both tokens key them. */
export function artistCacheKey(id: string, artistGeneration: string, listGeneration: string): string {
  return `catalog:artist:${id}:${artistGeneration}:${listGeneration}`;
}

export const LIST_GENERATION_KEY = 'catalog:list-gen';

/** The current generation token under `key`, created when absent; null when the cache does not answer. */
export async function currentGeneration(cache: Cache, key: string): Promise<string | null> {
  const seen = await cache.get(key);
  if (seen !== null) return seen;
  const token = randomUUID();
  if (await cache.setIfAbsent(key, token, GENERATION_TTL_MS)) return token;
  return cache.get(key);
}

async function newGeneration(cache: Cache, key: string): Promise<void> {
  await cache.set(key, randomUUID(), GENERATION_TTL_MS);
}

/** Every cached track list, search page and artist document is keyed by this token: replacing it drops them all. */
export async function bumpListGeneration(cache: Cache): Promise<void> {
  await newGeneration(cache, LIST_GENERATION_KEY);
}

/**
 * Drop the cached track document and every cached list page; call after any write to the track
 * (after its transaction committed): the catalog routes, ingest after createTrack/startTrackVersion,
 * the packager after markTrackReady/markTrackFailed.
 */
export async function invalidateTrack(cache: Cache, ...ids: string[]): Promise<void> {
  for (const id of new Set(ids)) await newGeneration(cache, trackGenerationKey(id));
  await bumpListGeneration(cache);
}

/** Drop the cached artist document (name, bio, followers changed); track writes reach it through the list token. */
export async function invalidateArtist(cache: Cache, id: string): Promise<void> {
  await newGeneration(cache, artistGenerationKey(id));
}

const iso = (d: Date | string | null): string | null => (d === null ? null : new Date(d).toISOString());

export function trackSelect(db: CatalogDb) {
  return db
    .selectFrom('tracks as t')
    .innerJoin('artists as a', 'a.id', 't.artist_id')
    .leftJoin('albums as al', 'al.id', 't.album_id')
    .select([
      't.id', 't.artist_id', 'a.name as artist_name', 'a.owner_user_id', 't.album_id', 'al.title as album_title', 't.title',
      't.genre', 't.track_number', 't.year', 't.isrc', 't.status', 't.error_code', 't.error_detail', 't.duration_ms',
      't.loudness', 't.renditions', 't.current_version', 't.published_version', 't.cover_key', 't.peaks_key',
      't.original_key', 't.notes', 't.created_at', 't.updated_at', 't.published_at',
    ]);
}

type TrackRow = Awaited<ReturnType<ReturnType<typeof trackSelect>['executeTakeFirstOrThrow']>>;

export function toTrackRecord(r: TrackRow): TrackRecord {
  return {
    id: r.id,
    artistId: r.artist_id,
    artistName: r.artist_name,
    ownerUserId: r.owner_user_id,
    albumId: r.album_id,
    albumTitle: r.album_title,
    title: r.title,
    genre: r.genre,
    trackNumber: r.track_number,
    year: r.year,
    isrc: r.isrc,
    status: r.status,
    errorCode: r.error_code,
    errorDetail: r.error_detail,
    durationMs: r.duration_ms,
    loudness: (r.loudness as Loudness | null) ?? null,
    renditions: (r.renditions as Rendition[]) ?? [],
    currentVersion: r.current_version,
    publishedVersion: r.published_version,
    coverKey: r.cover_key,
    peaksKey: r.peaks_key,
    originalKey: r.original_key,
    notes: (r.notes as Record<string, unknown>) ?? {},
    createdAt: iso(r.created_at)!,
    updatedAt: iso(r.updated_at)!,
    publishedAt: iso(r.published_at),
  };
}

/** Any state (owner views, ingest, packager). null when absent. */
export async function getTrack(db: AnyDb, id: string): Promise<TrackRecord | null> {
  if (!isUuid(id)) return null;
  const row = await trackSelect(asCatalogDb(db)).where('t.id', '=', id).executeTakeFirst();
  return row ? toTrackRecord(row) : null;
}

/** Only a track with a published version (what listeners and the playback route may see). */
export async function getPublishedTrack(db: AnyDb, id: string): Promise<TrackRecord | null> {
  const t = await getTrack(db, id);
  return t && t.publishedVersion !== null ? t : null;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/**
 * A short token that changes whenever the cover does (a new cover is written under a new key): clients put
 * it in `?v=` on cover URLs, so a replaced cover is a new URL and a URL with the current token is immutable.
 */
export function coverVersion(coverKey: string | null): string | undefined {
  return coverKey ? createHash('sha256').update(coverKey).digest('base64url').slice(0, 12) : undefined;
}

export function isUuid(v: string): boolean {
  return UUID_RE.test(v);
}

/** Recompute the denormalised search key of tracks (after a title, artist or album change). */
export async function refreshTrackSearchKeys(db: AnyDb, where: { trackId?: string; artistId?: string; albumId?: string }): Promise<void> {
  const cond = where.trackId
    ? sql`t.id = ${where.trackId}`
    : where.artistId
      ? sql`t.artist_id = ${where.artistId}`
      : where.albumId
        ? sql`t.album_id = ${where.albumId}`
        : sql`false`;
  await sql`
    update tracks t set search_key = catalog_search_key(concat_ws(' ', t.title,
      (select a.name from artists a where a.id = t.artist_id),
      (select al.title from albums al where al.id = t.album_id)))
    where ${cond}`.execute(db);
}

export async function refreshArtistSearchKey(db: AnyDb, artistId: string): Promise<void> {
  await sql`update artists set search_key = catalog_search_key(name) where id = ${artistId}`.execute(db);
}

/** Find a user's artist by name (case-insensitive) or create it. */
export async function ensureArtist(db: AnyDb, input: { ownerUserId: string | null; name: string }): Promise<string> {
  const cdb = asCatalogDb(db);
  const name = input.name.trim();
  const existing = await cdb
    .selectFrom('artists')
    .select('id')
    .where(sql<boolean>`lower(name) = lower(${name})`)
    .where((eb) => (input.ownerUserId === null ? eb('owner_user_id', 'is', null) : eb('owner_user_id', '=', input.ownerUserId)))
    .orderBy('created_at')
    .executeTakeFirst();
  if (existing) return existing.id;
  const row = await cdb
    .insertInto('artists')
    .values({ owner_user_id: input.ownerUserId, name, search_key: sql<string>`catalog_search_key(${name})` as unknown as string })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/** Find an artist's album by title (case-insensitive) or create it. Safe under concurrent uploads. */
export async function ensureAlbum(db: AnyDb, input: { artistId: string; title: string; year?: number | null }): Promise<string> {
  const cdb = asCatalogDb(db);
  const title = input.title.trim();
  const inserted = await cdb
    .insertInto('albums')
    .values({ artist_id: input.artistId, title, year: input.year ?? null })
    .onConflict((oc) => oc.expression(sql`artist_id, lower(title)`).doNothing())
    .returning('id')
    .executeTakeFirst();
  if (inserted) return inserted.id;
  const row = await cdb
    .selectFrom('albums')
    .select('id')
    .where('artist_id', '=', input.artistId)
    .where(sql<boolean>`lower(title) = lower(${title})`)
    .executeTakeFirstOrThrow();
  return row.id;
}

export interface CreateTrackInput {
  /** Use an id chosen by the caller (e.g. the upload id), or let the database pick one. */
  id?: string;
  /** Either an artist id, or an owner plus an artist name (found or created for that owner). */
  artistId?: string;
  ownerUserId?: string | null;
  artistName?: string;
  albumId?: string | null;
  /** Found or created under the artist when albumId is not given. */
  albumTitle?: string | null;
  title: string;
  genre?: string | null;
  trackNumber?: number | null;
  year?: number | null;
  isrc?: string | null;
  originalKey?: string | null;
  coverKey?: string | null;
  notes?: Record<string, unknown>;
}

/** A new track in status `processing` at version 1. */
export async function createTrack(db: AnyDb, input: CreateTrackInput): Promise<{ id: string; version: number; artistId: string; albumId: string | null }> {
  return asCatalogDb(db).transaction().execute(async (trx) => {
    let artistId = input.artistId;
    if (!artistId) {
      if (!input.artistName) throw new Error('createTrack needs artistId or artistName');
      artistId = await ensureArtist(trx, { ownerUserId: input.ownerUserId ?? null, name: input.artistName });
    }
    let albumId = input.albumId ?? null;
    if (!albumId && input.albumTitle && input.albumTitle.trim()) {
      albumId = await ensureAlbum(trx, { artistId, title: input.albumTitle, year: input.year ?? null });
    }
    const row = await trx
      .insertInto('tracks')
      .values({
        ...(input.id ? { id: input.id } : {}),
        artist_id: artistId,
        album_id: albumId,
        title: input.title.trim(),
        genre: input.genre ?? null,
        track_number: input.trackNumber ?? null,
        year: input.year ?? null,
        isrc: input.isrc ?? null,
        status: 'processing',
        current_version: 1,
        original_key: input.originalKey ?? null,
        cover_key: input.coverKey ?? null,
        notes: JSON.stringify(input.notes ?? {}),
        renditions: '[]',
      })
      .returning(['id', 'current_version'])
      .executeTakeFirstOrThrow();
    await refreshTrackSearchKeys(trx, { trackId: row.id });
    return { id: row.id, version: row.current_version, artistId, albumId };
  });
}

/**
 * A re-upload of an existing track: bump current_version and go back to `processing`. The published
 * version (if any) keeps playing until the new one is ready. Returns the new version, null if absent.
 */
export async function startTrackVersion(db: AnyDb, input: { trackId: string; originalKey?: string | null }): Promise<number | null> {
  const row = await asCatalogDb(db)
    .updateTable('tracks')
    .set((eb) => ({
      current_version: eb('current_version', '+', 1),
      status: 'processing',
      error_code: null,
      error_detail: null,
      updated_at: new Date(),
      ...(input.originalKey !== undefined ? { original_key: input.originalKey } : {}),
    }))
    .where('id', '=', input.trackId)
    .returning('current_version')
    .executeTakeFirst();
  return row ? row.current_version : null;
}

export interface MarkReadyInput {
  trackId: string;
  version: number;
  durationMs: number;
  loudness: Loudness | null;
  renditions: Rendition[];
  coverKey?: string | null;
  peaksKey?: string | null;
  notes?: Record<string, unknown>;
}

/**
 * Publish `version`: one UPDATE (so one transaction) that only applies when no newer version is
 * already published. Re-running it for the same version is harmless. Returns whether it applied.
 * The status becomes `ready` only when this is also the version being processed; an older version
 * finishing late is published (better than nothing) while the newer one keeps `processing`.
 */
export async function markTrackReady(db: AnyDb, input: MarkReadyInput): Promise<boolean> {
  const res = await sql<{ id: string }>`
    update tracks set
      published_version = ${input.version},
      status = case when ${input.version} >= current_version then 'ready' else status end,
      error_code = case when ${input.version} >= current_version then null else error_code end,
      error_detail = case when ${input.version} >= current_version then null else error_detail end,
      duration_ms = ${input.durationMs},
      loudness = ${input.loudness === null ? null : JSON.stringify(input.loudness)}::jsonb,
      renditions = ${JSON.stringify(input.renditions)}::jsonb,
      cover_key = coalesce(${input.coverKey ?? null}, cover_key),
      peaks_key = coalesce(${input.peaksKey ?? null}, peaks_key),
      notes = notes || ${JSON.stringify(input.notes ?? {})}::jsonb,
      published_at = coalesce(published_at, now()),
      updated_at = now()
    where id = ${input.trackId}
      and ${input.version} <= current_version
      and (published_version is null or published_version <= ${input.version})
    returning id`.execute(db);
  return res.rows.length > 0;
}

/** Record a failure of `version`; ignored when a newer version is already being processed. */
export async function markTrackFailed(db: AnyDb, input: { trackId: string; version: number; code: string; detail: string }): Promise<boolean> {
  const row = await asCatalogDb(db)
    .updateTable('tracks')
    .set({ status: 'failed', error_code: input.code, error_detail: input.detail, updated_at: new Date() })
    .where('id', '=', input.trackId)
    .where('current_version', '=', input.version)
    .returning('id')
    .executeTakeFirst();
  return Boolean(row);
}
