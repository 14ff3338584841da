/**
 * Serving: loads the newest artifact (re-checking the pointer at most once per reload interval),
 * turns a listener's precomputed picks into the response: filters (already liked, just played, no
 * longer published), fallbacks (fold-in from likes for listeners newer than the model, hot now,
 * newest tracks), diversity (at most N tracks by one artist in a row) and a reason per track.
 * Finished lists are cached per user in deps.cache for RECS_CACHE_TTL.
 */
import type { PlatformDeps } from '@platform/runtime';
import type { TRecommendedTrack, TRecsArtifact } from '@platform/models';
import { AppError } from '@platform/errors';
import { readLatestPointer } from './artifact-store';
import { rowView, type CompactModel } from './compact-model';
import { loadCompactModel } from './model-loader';
import { DEFAULT_HOT_NOW, hotNow, type HotTrack } from './hot-now';
import { contentSimilar } from './train';
import { recsMetrics, type RecsMetrics } from './prom-metrics';

export interface RecsServiceOptions {
  /** How often the latest-version pointer is re-read. */
  reloadIntervalMs: number;
  /** Diversity: no more than this many tracks by one artist in a row. */
  maxPerArtistInARow: number;
  /** Tracks played this recently are not recommended again. */
  justPlayedMinutes: number;
  /** Hot now is shared by everyone; recomputed at most this often. */
  hotTtlMs: number;
  /** Length of the cached per-user list (requests slice it). */
  listLength: number;
}

export const DEFAULT_RECS_SERVICE_OPTIONS: RecsServiceOptions = {
  reloadIntervalMs: 60_000,
  maxPerArtistInARow: 2,
  justPlayedMinutes: 360,
  hotTtlMs: 60_000,
  listLength: 100,
};

interface LoadedModel {
  /** Decoded in a worker thread: loading a new version never blocks this process's requests. */
  artifact: CompactModel;
  index: Map<string, number>;
  userIndex: Map<string, number>;
}

interface Candidate {
  id: string;
  title: string;
  artist: string;
  artistId: string;
  score: number;
  reason: string;
}

/** Beyond the contract's {id, title, artist, score, reason}: what the player's track rows show. */
interface TrackExtras {
  durationMs: number | null;
  hasCover: boolean;
  album: string | null;
}

type Deps = Pick<PlatformDeps, 'sql' | 'olap' | 'objects' | 'cache' | 'logger' | 'config' | 'metrics'>;

export class RecsService {
  private readonly opts: RecsServiceOptions;
  private current: LoadedModel | null = null;
  private checkedAt = -Infinity;
  private loading: Promise<LoadedModel | null> | null = null;
  private readonly metrics: RecsMetrics;

  constructor(private readonly deps: Deps, opts: Partial<RecsServiceOptions> = {}) {
    this.opts = { ...DEFAULT_RECS_SERVICE_OPTIONS, ...opts };
    this.metrics = recsMetrics(deps.metrics);
  }

  /** The newest model, or null before the first training run. Concurrent callers share one load. */
  async model(): Promise<LoadedModel | null> {
    if (performance.now() - this.checkedAt < this.opts.reloadIntervalMs) return this.current;
    this.loading ??= this.reload().finally(() => { this.loading = null; });
    return this.loading;
  }

  private async reload(): Promise<LoadedModel | null> {
    try {
      const latest = await readLatestPointer(this.deps.objects);
      if (latest && latest.version !== this.current?.artifact.version) {
        const artifact = await loadCompactModel(this.deps.objects, latest.key);
        if (artifact) {
          this.current = { artifact, index: new Map(artifact.tracks.map((t, i) => [t.id, i])), userIndex: new Map(artifact.userIds.map((u, i) => [u, i])) };
          this.metrics.modelTrainedAt.set(Date.parse(artifact.trainedAt) / 1000);
          this.deps.logger.info({ version: artifact.version, users: artifact.counts.users, tracks: artifact.counts.tracks }, 'recs: model loaded');
        }
      }
    } catch (err) {
      // Keep serving the model we have; the next interval tries again.
      this.deps.logger.warn({ err }, 'recs: could not load the newest model');
    }
    this.checkedAt = performance.now();
    return this.current;
  }

  async recommend(userId: string, limit: number): Promise<TRecommendedTrack[]> {
    const model = await this.model();
    const key = `recs:v1:${model?.artifact.version ?? 'none'}:u:${userId}`;
    const cached = await this.deps.cache.get(key);
    if (cached) {
      this.metrics.requests.inc({ endpoint: 'recommendations', cache: 'hit' });
      return (JSON.parse(cached) as TRecommendedTrack[]).slice(0, limit);
    }
    this.metrics.requests.inc({ endpoint: 'recommendations', cache: 'miss' });
    const end = this.metrics.computeSeconds.startTimer({ endpoint: 'recommendations' });
    const list = await this.computeForUser(model, userId);
    end();
    await this.deps.cache.set(key, JSON.stringify(list), this.deps.config.RECS_CACHE_TTL);
    return list.slice(0, limit);
  }

  /** Forget a listener's cached list (e.g. right after a like, so the next visit reflects it). */
  async invalidateUser(userId: string): Promise<void> {
    const model = await this.model();
    await this.deps.cache.del(`recs:v1:${model?.artifact.version ?? 'none'}:u:${userId}`);
  }

  private async computeForUser(model: LoadedModel | null, userId: string): Promise<TRecommendedTrack[]> {
    const n = this.opts.listLength;
    const [liked, justPlayed] = await Promise.all([this.likedTracks(userId), this.recentlyPlayed(userId)]);
    const excluded = new Set([...liked, ...justPlayed]);
    const out: Candidate[] = [];
    const seen = new Set<string>();
    const push = (c: Candidate) => {
      if (seen.has(c.id) || excluded.has(c.id)) return;
      seen.add(c.id);
      out.push(c);
    };
    if (model) {
      const a = model.artifact;
      const row = model.userIndex.get(userId);
      if (row !== undefined) {
        const picks = rowView(a.users, row);
        picks.items.forEach((i, r) => {
          const t = a.tracks[i];
          const because = picks.because[r];
          push({ ...trackOf(t), score: picks.scores[r], reason: because >= 0 ? `Because you played ${a.tracks[because].title}` : 'Picked for you' });
        });
      }
      // Listeners newer than the model, or with new likes: fold in from what they liked.
      if (out.length < n && liked.length) {
        for (const c of this.foldIn(model, liked)) push(c);
      }
    }
    if (out.length < n) {
      const floor = out.length ? Math.min(...out.map((c) => c.score)) : 1;
      const hot = await this.hot();
      const meta = await this.trackMeta(model, hot.map((h) => h.trackId));
      hot.forEach((h, r) => {
        const t = meta.get(h.trackId);
        if (t) push({ ...t, score: round(floor * 0.5 * (1 - r / (hot.length + 1))), reason: h.velocity > 1.5 ? 'Taking off right now' : 'Popular right now' });
      });
      if (out.length < n) {
        const fill = await this.popularOrNewest(model, n * 2);
        fill.forEach((c, r) => push({ ...c, score: round(floor * 0.25 * (1 - r / (fill.length + 1))) }));
      }
    }
    const live = await this.stillPublished(out.map((c) => c.id));
    const diverse = diversify(out.filter((c) => live.has(c.id)), this.opts.maxPerArtistInARow).slice(0, n);
    return diverse.map(({ id, title, artist, score, reason }) => ({ id, title, artist, score, reason, ...live.get(id) }));
  }

  private foldIn(model: LoadedModel, liked: string[]): Candidate[] {
    const a = model.artifact;
    const acc = new Map<number, { score: number; because: number; best: number }>();
    for (const id of liked) {
      const i = model.index.get(id);
      if (i === undefined) continue;
      const s = rowView(a.similar, i);
      s.items.forEach((j, r) => {
        const e = acc.get(j) ?? { score: 0, because: i, best: 0 };
        e.score += s.scores[r];
        if (s.scores[r] > e.best) { e.best = s.scores[r]; e.because = i; }
        acc.set(j, e);
      });
    }
    return [...acc.entries()]
      .sort((x, y) => y[1].score - x[1].score)
      .map(([j, e]) => ({ ...trackOf(a.tracks[j]), score: round(e.score), reason: `Because you liked ${a.tracks[e.because].title}` }));
  }

  async similar(trackId: string, limit: number): Promise<TRecommendedTrack[]> {
    const model = await this.model();
    const key = `recs:v1:${model?.artifact.version ?? 'none'}:sim:${trackId}`;
    const cached = await this.deps.cache.get(key);
    if (cached) {
      this.metrics.requests.inc({ endpoint: 'similar', cache: 'hit' });
      return (JSON.parse(cached) as TRecommendedTrack[]).slice(0, limit);
    }
    this.metrics.requests.inc({ endpoint: 'similar', cache: 'miss' });
    const end = this.metrics.computeSeconds.startTimer({ endpoint: 'similar' });
    const list = await this.computeSimilar(model, trackId);
    end();
    await this.deps.cache.set(key, JSON.stringify(list), this.deps.config.RECS_CACHE_TTL);
    return list.slice(0, limit);
  }

  private async computeSimilar(model: LoadedModel | null, trackId: string): Promise<TRecommendedTrack[]> {
    let cands: Candidate[] = [];
    const i = model?.index.get(trackId);
    if (model && i !== undefined) {
      const a = model.artifact;
      const s = rowView(a.similar, i);
      const title = a.tracks[i].title;
      cands = Array.from(s.items, (j, r) => ({ ...trackOf(a.tracks[j]), score: s.scores[r], reason: contentReason(a.tracks[i], a.tracks[j], s.scores[r], title) }));
    } else {
      // A track newer than the model: content features from the catalog, against the catalog.
      const me = await this.deps.sql
        .selectFrom('tracks')
        .select(['id', 'artist_id', 'genre', 'loudness'])
        .where('id', '=', trackId)
        .executeTakeFirst();
      if (!me) throw new AppError('not_found', `No track ${trackId}: check the id (GET /api/tracks lists published tracks).`);
      const pool = await this.deps.sql
        .selectFrom('tracks as t')
        .innerJoin('artists as a', 'a.id', 't.artist_id')
        .select(['t.id as id', 't.title as title', 'a.name as artist', 'a.id as artist_id', 't.genre as genre', 't.loudness as loudness'])
        .where('t.published_version', 'is not', null)
        .where((eb) => eb.or([eb('t.artist_id', '=', me.artist_id), ...(me.genre ? [eb(eb.fn('lower', ['t.genre']), '=', String(me.genre).toLowerCase())] : [])]))
        .limit(500)
        .execute();
      const rows = [{ id: String(me.id), title: '', artist: '', artistId: String(me.artist_id), genre: (me.genre as string | null) ?? null, loudness: lufs(me.loudness), published: false },
        ...pool.filter((p) => String(p.id) !== trackId).map((p) => ({ id: String(p.id), title: String(p.title), artist: String(p.artist), artistId: String(p.artist_id), genre: (p.genre as string | null) ?? null, loudness: lufs(p.loudness), published: true }))];
      const pop = rows.map((r) => (model ? model.artifact.popularity[model.index.get(r.id) ?? -1] ?? 0 : 0));
      cands = contentSimilar(rows, pop, 0, this.opts.listLength).map(({ item, score }) => {
        const t = rows[item];
        return { id: t.id, title: t.title, artist: t.artist, artistId: t.artistId, score: round(score), reason: t.artistId === rows[0].artistId ? 'More from this artist' : 'Same genre' };
      });
    }
    const live = await this.stillPublished(cands.map((c) => c.id));
    return diversify(cands.filter((c) => live.has(c.id) && c.id !== trackId), this.opts.maxPerArtistInARow)
      .slice(0, this.opts.listLength)
      .map(({ id, title, artist, score, reason }) => ({ id, title, artist, score, reason, ...live.get(id) }));
  }

  private async likedTracks(userId: string): Promise<string[]> {
    const rows = await this.deps.sql.selectFrom('likes').select('track_id').where('user_id', '=', userId).orderBy('created_at', 'desc').limit(500).execute();
    return rows.map((r) => String(r.track_id));
  }

  /** "Just played" from ClickHouse; an analytics store that is not there yet filters nothing. */
  private async recentlyPlayed(userId: string): Promise<string[]> {
    try {
      const r = await this.deps.olap.query({
        query: `SELECT DISTINCT trackId FROM plays WHERE userId = {user:String} AND playedAt >= now64(3) - toIntervalMinute({minutes:UInt32}) LIMIT 500`,
        query_params: { user: userId, minutes: this.opts.justPlayedMinutes },
        format: 'JSONEachRow',
      });
      return (await r.json<{ trackId: string }>()).map((x) => x.trackId);
    } catch (err) {
      this.deps.logger.debug({ err }, 'recs: recent plays unavailable');
      return [];
    }
  }

  private async hot(): Promise<HotTrack[]> {
    const key = 'recs:v1:hot';
    const cached = await this.deps.cache.get(key);
    if (cached) return JSON.parse(cached) as HotTrack[];
    let list: HotTrack[] = [];
    try {
      list = await hotNow(this.deps.olap, DEFAULT_HOT_NOW);
    } catch (err) {
      this.deps.logger.debug({ err }, 'recs: hot now unavailable');
    }
    await this.deps.cache.set(key, JSON.stringify(list), this.opts.hotTtlMs);
    return list;
  }

  private async trackMeta(model: LoadedModel | null, ids: string[]): Promise<Map<string, Omit<Candidate, 'score' | 'reason'>>> {
    const out = new Map<string, Omit<Candidate, 'score' | 'reason'>>();
    const missing: string[] = [];
    for (const id of ids) {
      const i = model?.index.get(id);
      if (model && i !== undefined) out.set(id, trackOf(model.artifact.tracks[i]));
      else if (UUID.test(id)) missing.push(id);
    }
    if (missing.length) {
      const rows = await this.deps.sql
        .selectFrom('tracks as t')
        .innerJoin('artists as a', 'a.id', 't.artist_id')
        .select(['t.id as id', 't.title as title', 'a.name as artist', 'a.id as artist_id'])
        .where('t.id', 'in', missing)
        .execute();
      for (const r of rows) out.set(String(r.id), { id: String(r.id), title: String(r.title), artist: String(r.artist), artistId: String(r.artist_id) });
    }
    return out;
  }

  /** Most listened in the model's window, else (fresh install) the newest published tracks. */
  private async popularOrNewest(model: LoadedModel | null, n: number): Promise<Candidate[]> {
    if (model && model.artifact.popularOrder.length > 0) {
      // Ranked once per model version (in the loader worker), not per request.
      const a = model.artifact;
      return Array.from(a.popularOrder.subarray(0, n), (i) => ({ ...trackOf(a.tracks[i]), score: 0, reason: 'Popular on the platform' }));
    }
    const rows = await this.deps.sql
      .selectFrom('tracks as t')
      .innerJoin('artists as a', 'a.id', 't.artist_id')
      .select(['t.id as id', 't.title as title', 'a.name as artist', 'a.id as artist_id'])
      .where('t.published_version', 'is not', null)
      .orderBy('t.published_at', 'desc')
      .limit(n)
      .execute();
    return rows.map((r) => ({ id: String(r.id), title: String(r.title), artist: String(r.artist), artistId: String(r.artist_id), score: 0, reason: 'New on the platform' }));
  }

  /**
   * The subset of ids still published right now (the model's snapshot may be hours old), with what a
   * track row needs beside the contract's fields: the duration and whether a cover exists (without
   * them the player shows "-:--" and asks for covers that 404).
   */
  private async stillPublished(ids: string[]): Promise<Map<string, TrackExtras>> {
    const valid = ids.filter((id) => UUID.test(id));
    if (!valid.length) return new Map();
    const rows = await this.deps.sql
      .selectFrom('tracks as t')
      .leftJoin('albums as al', 'al.id', 't.album_id')
      .select(['t.id as id', 't.duration_ms as duration_ms', 't.cover_key as cover_key', 'al.title as album'])
      .where('t.id', 'in', valid)
      .where('t.published_version', 'is not', null)
      .execute();
    return new Map(rows.map((r) => [String(r.id), {
      durationMs: r.duration_ms === null || r.duration_ms === undefined ? null : Number(r.duration_ms),
      hasCover: r.cover_key !== null && r.cover_key !== undefined,
      album: r.album === null || r.album === undefined ? null : String(r.album),
    }]));
  }
}

/**
 * Greedy re-ranking for variety: walk the ranked list and, when the last `maxInARow` picks share an
 * artist, take the best next track by someone else (the deferred ones come back as soon as allowed).
 */
export function diversify<T extends { artistId: string }>(ranked: T[], maxInARow: number): T[] {
  const pending = [...ranked];
  const out: T[] = [];
  const left = new Map<string, number>();
  for (const c of pending) left.set(c.artistId, (left.get(c.artistId) ?? 0) + 1);
  // Can what is left still be ordered with at most maxInARow per artist in a row, after a run of `run`
  // tracks by `last`? Only the most frequent artist can make it impossible: it needs enough others
  // between its runs. Checking this before each pick keeps the greedy from stranding one artist's
  // tracks at the tail (which would then be cut, leaving a shorter list than the ranking allows).
  const feasible = (last: string | null, run: number): boolean => {
    let top: string | null = null;
    let most = 0;
    let total = 0;
    for (const [artist, n] of left) {
      total += n;
      if (n > most) [top, most] = [artist, n];
    }
    const others = total - most;
    const room = top === last ? maxInARow - run + maxInARow * others : maxInARow * (others + 1);
    return most <= room;
  };
  while (pending.length) {
    let run = 0;
    const last = out.length ? out[out.length - 1].artistId : null;
    for (let k = out.length - 1; k >= 0 && out[k].artistId === last; k--) run++;
    let idx = -1;
    let firstAllowed = -1;
    for (let i = 0; i < pending.length; i++) {
      const artist = pending[i].artistId;
      if (artist === last && run >= maxInARow) continue;
      if (firstAllowed < 0) firstAllowed = i;
      left.set(artist, left.get(artist)! - 1);
      const ok = feasible(artist, artist === last ? run + 1 : 1);
      left.set(artist, left.get(artist)! + 1);
      if (ok) {
        idx = i;
        break;
      }
    }
    if (idx < 0) idx = firstAllowed;
    if (idx < 0) break; // only that artist left: stop rather than break the promise
    const [picked] = pending.splice(idx, 1);
    left.set(picked.artistId, left.get(picked.artistId)! - 1);
    out.push(picked);
  }
  return out;
}

function trackOf(t: TRecsArtifact['tracks'][number]) {
  return { id: t.id, title: t.title, artist: t.artist, artistId: t.artistId };
}

function contentReason(me: TRecsArtifact['tracks'][number], other: TRecsArtifact['tracks'][number], score: number, title: string): string {
  // Co-listening scores are cosines (>= 0.1 in practice); content-only scores stay below 0.1.
  if (score >= 0.1) return `Listeners of ${title} also play this`;
  if (other.artistId === me.artistId) return 'More from this artist';
  if (other.genre && me.genre && other.genre.toLowerCase() === me.genre.toLowerCase()) return 'Same genre';
  return `Listeners of ${title} also play this`;
}

function lufs(v: unknown): number | null {
  const o = typeof v === 'string' ? (() => { try { return JSON.parse(v); } catch { return null; } })() : v;
  const x = o && typeof o === 'object' ? Number((o as { integratedLufs?: unknown }).integratedLufs) : NaN;
  return Number.isFinite(x) ? x : null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const round = (x: number) => Math.round(x * 1e6) / 1e6;
