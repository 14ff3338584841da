/**
 * Read-through cache of the documents the API serves most: tracks and artists. Every write path in
 * the catalog calls the matching invalidate; ingest/packager call invalidateTrack after their writes.
 * Hits and misses go to `catalog_doc_cache_requests_total` (and the derived hit-ratio gauge).
 */
import { sql } from 'kysely';
import type { Cache } from '@platform/cache';
import type { Logger } from '@platform/logging';
import type { CatalogDb } from './db/schema';
import type { CatalogMetrics } from './metrics';
import { artistCacheKey, getTrack, trackCacheKey, type TrackRecord } from './tracks';

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

  private async readThrough<T>(doc: string, key: string, load: () => Promise<T | null>): Promise<T | null> {
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
      await this.cache.set(key, JSON.stringify(value), this.ttlMs).catch((err: unknown) => this.logger.warn({ err, key }, 'catalog cache write failed'));
    }
    return value;
  }

  track(id: string): Promise<TrackRecord | null> {
    return this.readThrough('track', trackCacheKey(id), () => getTrack(this.db, id));
  }

  artist(id: string): Promise<ArtistRecord | null> {
    return this.readThrough('artist', artistCacheKey(id), () => loadArtist(this.db, id));
  }

  async invalidateTracks(...ids: string[]): Promise<void> {
    if (ids.length) await this.cache.del(...ids.map(trackCacheKey));
  }

  async invalidateArtists(...ids: Array<string | null | undefined>): Promise<void> {
    const keys = [...new Set(ids.filter((x): x is string => Boolean(x)))].map(artistCacheKey);
    if (keys.length) await this.cache.del(...keys);
  }
}

export async function loadArtist(db: CatalogDb, id: string): Promise<ArtistRecord | null> {
  const a = await db
    .selectFrom('artists as a')
    .select(['a.id', 'a.name', 'a.bio', 'a.owner_user_id'])
    .select(sql<string>`(select count(*) from follows f where f.artist_id = a.id)`.as('followers'))
    .select(sql<string>`(select count(*) from tracks t where t.artist_id = a.id and t.published_version is not null)`.as('track_count'))
    .where('a.id', '=', id)
    .executeTakeFirst();
  if (!a) return null;
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
    followers: Number(a.followers),
    trackCount: Number(a.track_count),
    albums: albums.map((x) => ({ id: x.id, title: x.title, year: x.year })),
  };
}
