/**
 * Read-through cache of the documents the API serves most: tracks and artists. Every write path in
 * the catalog calls the matching invalidate; ingest/packager call invalidateTrack after their writes.
 * Hits and misses go to `catalog_doc_cache_requests_total` (and the derived hit-ratio gauge).
 */
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { Cache } from '@platform/cache';
import type { Logger } from '@platform/logging';
import type { CatalogDb } from './db/schema';
import type { CatalogMetrics } from './metrics';
import { artistCacheKey, artistGenerationKey, bumpListGeneration, currentGeneration, getTrack, invalidateArtist, invalidateTrack, LIST_GENERATION_KEY, trackCacheKey, trackGenerationKey, type TrackRecord } from './tracks';

/** Cached list pages live briefly: the generation bump is the invalidation, the TTL only frees memory. */
const LIST_TTL_MS = 60_000;

export interface ArtistRecord {
  id: string;
  name: string;
  bio: string | null;
  ownerUserId: string | null;
  followers: number;
  /** Published tracks only. */
  trackCount: number;
  albums: Array<{ id: string; title: string; year: number | null }>;
}

export interface DocumentCacheOptions {
  /** false turns the cache off (benchmarks compare both). Default true. */
  enabled?: boolean;
  ttlMs?: number;
}

export class Documents {
  private readonly enabled: boolean;
  private readonly ttlMs: number;

  constructor(
    private readonly db: CatalogDb,
    private readonly cache: Cache,
    private readonly metrics: CatalogMetrics,
    private readonly logger: Logger,
    opts: DocumentCacheOptions = {},
  ) {
    this.enabled = opts.enabled ?? true;
    // Invalidation keeps documents fresh; the TTL only bounds memory and any missed invalidation.
    this.ttlMs = opts.ttlMs ?? 10 * 60_000;
  }

  private async readThrough<T>(doc: string, key: string, load: () => Promise<T | null>, ttlMs = this.ttlMs): Promise<T | null> {
    if (!this.enabled) return load();
    let cached: string | null = null;
    try {
      cached = await this.cache.get(key);
    } catch (err) {
      // A cache outage degrades to database reads instead of failing the request.
      this.logger.warn({ err, key }, 'catalog cache read failed');
    }
    if (cached !== null) {
      this.metrics.cacheRequests.inc({ doc, result: 'hit' });
      return JSON.parse(cached) as T;
    }
    this.metrics.cacheRequests.inc({ doc, result: 'miss' });
    const value = await load();
    if (value !== null) {
      await this.cache.set(key, JSON.stringify(value), ttlMs).catch((err: unknown) => this.logger.warn({ err, key }, 'catalog cache write failed'));
    }
    return value;
  }

  /**
   * Track lists and search pages for viewers who see only published tracks (anonymous, listeners).
   * Keyed by a list generation that every track/artist/album write bumps (invalidateTrack too), so a
   * write invalidates every cached page at once without knowing which pages held the track.
   */
  async list<T>(query: unknown, load: () => Promise<T>): Promise<T> {
    if (!this.enabled) return load();
    const gen = await this.generation();
    if (gen === null) return load();
    const key = `catalog:list:${gen}:${createHash('sha1').update(JSON.stringify(query)).digest('base64url')}`;
    const value = await this.readThrough('list', key, async () => ({ v: await load() }), LIST_TTL_MS);
    return value!.v;
  }

  /** The generation token under `key` (see tracks.ts); null when the cache does not answer. */
  private async generation(key = LIST_GENERATION_KEY): Promise<string | null> {
    try {
      return await currentGeneration(this.cache, key);
    } catch (err) {
      this.logger.warn({ err }, 'catalog cache read failed');
      return null;
    }
  }

  async invalidateLists(): Promise<void> {
    await bumpListGeneration(this.cache);
  }

  /** The generation token is read before the row is loaded: that order is what makes invalidation race-free. */
  async track(id: string): Promise<TrackRecord | null> {
    if (!this.enabled) return getTrack(this.db, id);
    const gen = await this.generation(trackGenerationKey(id));
    if (gen === null) return getTrack(this.db, id);
    return this.readThrough('track', trackCacheKey(id, gen), () => getTrack(this.db, id));
  }

  /**
   * Artist documents carry the published track count, which changes when the packager publishes a
   * track (it only knows invalidateTrack): so the key includes the list generation as well.
   */
  async artist(id: string): Promise<ArtistRecord | null> {
    if (!this.enabled) return loadArtist(this.db, id);
    const own = await this.generation(artistGenerationKey(id));
    const list = own === null ? null : await this.generation();
    if (own === null || list === null) return loadArtist(this.db, id);
    return this.readThrough('artist', artistCacheKey(id, own, list), () => loadArtist(this.db, id));
  }

  /** Call after the write committed. */
  async invalidateTracks(...ids: string[]): Promise<void> {
    await invalidateTrack(this.cache, ...ids);
  }

  /** Call after the write committed. */
  async invalidateArtists(...ids: Array<string | null | undefined>): Promise<void> {
    for (const id of new Set(ids.filter((x): x is string => Boolean(x)))) await invalidateArtist(this.cache, id);
  }
}

export async function loadArtist(db: CatalogDb, id: string): Promise<ArtistRecord | null> {
  const a = await db
    .selectFrom('artists as a')
    .select(['a.id', 'a.name', 'a.bio', 'a.owner_user_id'])
    .select(sql<string>`(select count(*) from tracks t where t.artist_id = a.id and t.published_version is not null)`.as('track_count'))
    .where('a.id', '=', id)
    .executeTakeFirst();
  if (!a) return null;
  // A separate query, not a correlated subquery: follows is distributed by user_id on Citus, and a
  // plain multi-shard count is what Citus can always run.
  const followers = await db.selectFrom('follows').select((eb) => eb.fn.countAll<string>().as('n')).where('artist_id', '=', id).executeTakeFirstOrThrow();
  const albums = await db
    .selectFrom('albums')
    .select(['id', 'title', 'year'])
    .where('artist_id', '=', id)
    .orderBy('year', (ob) => ob.desc().nullsLast())
    .orderBy('title')
    .orderBy('id')
    .execute();
  return {
    id: a.id,
    name: a.name,
    bio: a.bio,
    ownerUserId: a.owner_user_id,
    followers: Number(followers.n),
    trackCount: Number(a.track_count),
    albums: albums.map((x) => ({ id: x.id, title: x.title, year: x.year })),
  };
}
