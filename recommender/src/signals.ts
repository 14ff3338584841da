/**
 * Listening signals -> one confidence weight per (user, track). Plays, completions and skips come
 * from ClickHouse (analytics' `plays` and `playback_views`), likes / playlist adds / follows from
 * PostgreSQL. The weights say how much each signal tells about taste; the models then turn the
 * summed weight into a confidence (BM25 over users) the same way they treat play counts offline.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import type { Kysely } from 'kysely';
import type { Logger } from '@platform/logging';
import type { Interaction } from './matrix';

export const SIGNAL_WEIGHTS = {
  /** A play (>= 30 s or finished), counted once per (session, track). */
  play: 1,
  /** Extra for a play that reached the end. */
  completion: 0.5,
  /** A start skipped before 30 s: mild evidence against. */
  skip: -0.5,
  like: 4,
  playlistAdd: 3,
  /** Following an artist spreads this over the artist's tracks (so a follow alone can seed picks). */
  follow: 0.5,
} as const;

export interface SignalCounts {
  plays: number;
  completions: number;
  skips: number;
  likes: number;
  playlistAdds: number;
  follows: number;
}

export interface SignalOptions {
  /** Only signals newer than this many days (plays, likes, ...). */
  days: number;
}

/** Accumulates weighted signals; pairs whose total ends at or below zero are dropped. */
export class SignalAccumulator {
  private readonly sums = new Map<string, number>();
  readonly counts: SignalCounts = { plays: 0, completions: 0, skips: 0, likes: 0, playlistAdds: 0, follows: 0 };

  add(user: string, track: string, weight: number): void {
    const key = `${user}\u0000${track}`;
    this.sums.set(key, (this.sums.get(key) ?? 0) + weight);
  }

  interactions(): Interaction[] {
    const out: Interaction[] = [];
    for (const [key, weight] of this.sums) {
      if (weight <= 0) continue;
      const sep = key.indexOf('\u0000');
      out.push({ user: key.slice(0, sep), item: key.slice(sep + 1), weight });
    }
    return out;
  }
}

/** Plays / completions / skips per (user, track) from ClickHouse. A missing table means no plays yet. */
export async function readListeningSignals(olap: ClickHouseClient, acc: SignalAccumulator, opts: SignalOptions, logger: Logger): Promise<void> {
  try {
    const plays = await olap.query({
      query: `SELECT userId, trackId, count() AS plays, sum(completed) AS completions
              FROM plays WHERE userId != '' AND playedAt >= now64(3) - toIntervalDay({days:UInt32})
              GROUP BY userId, trackId`,
      query_params: { days: opts.days },
      format: 'JSONEachRow',
    });
    for (const r of await plays.json<{ userId: string; trackId: string; plays: string | number; completions: string | number }>()) {
      const p = Number(r.plays), c = Number(r.completions);
      acc.add(r.userId, r.trackId, p * SIGNAL_WEIGHTS.play + c * SIGNAL_WEIGHTS.completion);
      acc.counts.plays += p;
      acc.counts.completions += c;
    }
    const skips = await olap.query({
      query: `SELECT userId, trackId, count() AS skips FROM (
                SELECT trackId, sessionId, max(userId) AS userId, max(skipSignal) AS skipped, min(playedAt) AS playedAt, max(lastSeen) AS lastSeen
                FROM playback_views GROUP BY trackId, sessionId)
              WHERE userId != '' AND skipped = 1 AND playedAt >= toDateTime64('2299-01-01 00:00:00', 3, 'UTC')
                AND lastSeen >= now64(3) - toIntervalDay({days:UInt32})
              GROUP BY userId, trackId`,
      query_params: { days: opts.days },
      format: 'JSONEachRow',
    });
    for (const r of await skips.json<{ userId: string; trackId: string; skips: string | number }>()) {
      const s = Number(r.skips);
      acc.add(r.userId, r.trackId, s * SIGNAL_WEIGHTS.skip);
      acc.counts.skips += s;
    }
  } catch (e) {
    // Before the analytics consumer has created its tables there is simply nothing to read.
    if (/UNKNOWN_TABLE|doesn't exist|does not exist|Unknown table/i.test((e as Error).message)) {
      logger.warn({ err: (e as Error).message }, 'recs: no listening tables in ClickHouse yet; training on catalog signals only');
      return;
    }
    throw e;
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the catalog owns the schema type
type AnyDb = Kysely<any>;

/** Likes, playlist adds and follows from PostgreSQL. */
export async function readCatalogSignals(db: AnyDb, acc: SignalAccumulator, opts: SignalOptions): Promise<void> {
  const since = new Date(Date.now() - opts.days * 86400_000);
  const likes = await db.selectFrom('likes').select(['user_id', 'track_id']).where('created_at', '>=', since).execute();
  for (const r of likes) acc.add(String(r.user_id), String(r.track_id), SIGNAL_WEIGHTS.like);
  acc.counts.likes = likes.length;
  const adds = await db.selectFrom('playlist_items').select(['user_id', 'track_id']).where('added_at', '>=', since).execute();
  for (const r of adds) acc.add(String(r.user_id), String(r.track_id), SIGNAL_WEIGHTS.playlistAdd);
  acc.counts.playlistAdds = adds.length;
  const follows = await db
    .selectFrom('follows as f')
    .innerJoin('tracks as t', 't.artist_id', 'f.artist_id')
    .select(['f.user_id as user_id', 't.id as track_id'])
    .where('t.published_version', 'is not', null)
    .where('f.created_at', '>=', since)
    .execute();
  for (const r of follows) acc.add(String(r.user_id), String(r.track_id), SIGNAL_WEIGHTS.follow);
  acc.counts.follows = follows.length;
}

export interface CatalogTrack {
  id: string;
  title: string;
  artist: string;
  artistId: string;
  genre: string | null;
  loudness: number | null;
  published: boolean;
}

/** Every track the catalog knows (published or not: the artifact marks which may be served). */
export async function readCatalogTracks(db: AnyDb): Promise<CatalogTrack[]> {
  const rows = await db
    .selectFrom('tracks as t')
    .innerJoin('artists as a', 'a.id', 't.artist_id')
    .select(['t.id as id', 't.title as title', 'a.name as artist', 'a.id as artist_id', 't.genre as genre', 't.loudness as loudness', 't.published_version as published_version'])
    .execute();
  return rows.map((r) => ({
    id: String(r.id),
    title: String(r.title),
    artist: String(r.artist),
    artistId: String(r.artist_id),
    genre: r.genre == null ? null : String(r.genre),
    loudness: loudnessOf(r.loudness),
    published: r.published_version != null,
  }));
}

function loudnessOf(v: unknown): number | null {
  const o = typeof v === 'string' ? safeJson(v) : v;
  if (o && typeof o === 'object' && 'integratedLufs' in o) {
    const x = Number((o as { integratedLufs: unknown }).integratedLufs);
    return Number.isFinite(x) ? x : null;
  }
  return null;
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return null;
  }
}
