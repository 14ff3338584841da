/**
 * What ingest needs on the catalog's tracks beyond what @platform/catalog exports: a musician's own
 * tracks in every state, and pointing a track at a new cover (ingest owns the cover objects and their
 * layout). Single-track reads and every other write go through the catalog's functions.
 */
import { sql, type Kysely } from 'kysely';
import { getTrack, type TrackRecord } from '@platform/catalog';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Db = Kysely<any>;

export { getTrack as findTrack, type TrackRecord };

/** Tracks of every artist the user owns, newest first, keyset-paginated on (created_at, id). */
export async function listOwnedTrackIds(db: Db, ownerUserId: string, limit: number, cursor?: { createdAt: string; id: string }) {
  let q = db
    .selectFrom('tracks as t')
    .innerJoin('artists as a', 'a.id', 't.artist_id')
    .select(['t.id', 't.created_at'])
    .where('a.owner_user_id', '=', ownerUserId)
    .orderBy('t.created_at', 'desc')
    .orderBy('t.id', 'desc')
    .limit(limit + 1);
  if (cursor) {
    q = q.where(sql<boolean>`(t.created_at, t.id) < (${cursor.createdAt}::timestamptz, ${cursor.id}::uuid)`);
  }
  const rows = (await q.execute()) as Array<{ id: string; created_at: Date | string }>;
  return { rows: rows.slice(0, limit), hasMore: rows.length > limit };
}

/**
 * Point the track at `coverKey` (null: no cover). Returns the key it had before, or undefined when the
 * track does not exist. One statement, so two concurrent replacements each see the key they replaced.
 */
export async function setTrackCoverKey(db: Db, trackId: string, coverKey: string | null): Promise<string | null | undefined> {
  const res = await sql<{ previous: string | null }>`
    update tracks t set cover_key = ${coverKey}, updated_at = now()
    from (select id, cover_key from tracks where id = ${trackId}::uuid for update) old
    where t.id = old.id
    returning old.cover_key as previous`.execute(db);
  return res.rows.length ? res.rows[0].previous : undefined;
}
