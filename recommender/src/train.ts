/**
 * Training: interactions + the catalog snapshot -> the served artifact. Fits personal picks (the
 * blend measured offline), precomputes each known listener's ranked picks with the history item
 * that explains each, and similar tracks per track (co-listening, or content features for tracks
 * nobody has played yet). Pure: the job in train-job.ts reads signals and writes the result.
 */
import type { TRecsArtifact, TRecsList } from '@platform/models';
import { buildMatrix, type Interaction, type InteractionMatrix } from './matrix';
import type { ItemKnn } from './models/item-knn';
import type { Recommender } from './models/types';
import { createPersonalPicks } from './personal-picks';
import { historyOf } from './models/types';
import { rowOf } from './models/item-weights';
import type { CatalogTrack } from './signals';
import { topK } from './topk';
import { fitWeighting } from './weighting';

export interface TrainOptions {
  /** Picks kept per listener (the API filters and diversifies from these). */
  picksPerUser: number;
  similarPerTrack: number;
  version: string;
  now?: Date;
}

export const DEFAULT_TRAIN_OPTIONS = { picksPerUser: 100, similarPerTrack: 30 } as const;

export interface TrainTimings {
  fitMs: number;
  picksMs: number;
  similarMs: number;
}

export function trainArtifact(interactions: Interaction[], catalog: CatalogTrack[], opts: TrainOptions): { artifact: TRecsArtifact; timings: TrainTimings } {
  const known = new Map(catalog.map((t) => [t.id, t]));
  // Tracks deleted since they were played have nothing to serve; every catalog track gets an index
  // (new ones too) so content-based similarity covers them.
  const rows = interactions.filter((r) => known.has(r.item));
  const m = buildMatrix(rows, { itemIds: catalog.map((t) => t.id) });
  const tracks = m.itemIds.map((id) => known.get(id)!);
  const published = tracks.map((t) => t.published);
  const t0 = performance.now();
  const { model: picks, itemKnn } = createPersonalPicks(m.nUsers, m.nItems);
  if (m.nUsers > 0) picks.fit(m);
  const t1 = performance.now();

  const users = computePicks(m, picks, itemKnn, published, 0, m.nUsers, opts.picksPerUser);
  const t2 = performance.now();
  return assemble(m, tracks, published, picks.name, itemKnn, users, opts, { fitMs: t1 - t0, picksMs: t2 - t1 });
}

/**
 * The same training with the per-user picks split across two threads (a worker fits the same
 * deterministic model and ranks the second half of the users while this thread ranks the first).
 * Small data stays on one thread: a worker costs a second fit.
 */
export async function trainArtifactParallel(interactions: Interaction[], catalog: CatalogTrack[], opts: TrainOptions & { minUsersForWorker?: number }): Promise<{ artifact: TRecsArtifact; timings: TrainTimings }> {
  const known = new Set(catalog.map((t) => t.id));
  const rows = interactions.filter((r) => known.has(r.item));
  const users = new Set(rows.map((r) => r.user));
  if (users.size < (opts.minUsersForWorker ?? 5000)) return trainArtifact(rows, catalog, opts);
  const { runPicksWorker, encodeRows } = await import('./picks-worker-client');
  const byId = new Map(catalog.map((t) => [t.id, t]));
  const m = buildMatrix(rows, { itemIds: catalog.map((t) => t.id) });
  const tracks = m.itemIds.map((id) => byId.get(id)!);
  const published = tracks.map((t) => t.published);
  const half = Math.floor(m.nUsers / 2);
  const t0 = performance.now();
  const remote = runPicksWorker({ rows: encodeRows(rows, m.itemIds), published, from: half, to: m.nUsers, picksPerUser: opts.picksPerUser });
  // Keep the worker's promise observed even if this thread throws first.
  remote.catch(() => undefined);
  const { model: picks, itemKnn } = createPersonalPicks(m.nUsers, m.nItems);
  picks.fit(m);
  const t1 = performance.now();
  const mine = computePicks(m, picks, itemKnn, published, 0, half, opts.picksPerUser);
  const theirs = await remote;
  const t2 = performance.now();
  return assemble(m, tracks, published, picks.name, itemKnn, { ...mine, ...theirs }, opts, { fitMs: t1 - t0, picksMs: t2 - t1 });
}

function assemble(
  m: InteractionMatrix,
  tracks: CatalogTrack[],
  published: boolean[],
  modelName: string,
  itemKnn: ItemKnn,
  users: Record<string, TRecsList>,
  opts: TrainOptions,
  t: { fitMs: number; picksMs: number },
): { artifact: TRecsArtifact; timings: TrainTimings } {
  const knn = itemKnn.weights;
  const t2 = performance.now();

  const popularity = Array.from({ length: m.nItems }, (_, i) => m.itemPtr[i + 1] - m.itemPtr[i]);
  const similar: TRecsList[] = [];
  for (let i = 0; i < m.nItems; i++) {
    const colisten = popularity[i] > 0 && knn ? topK(rowOf(knn, i), opts.similarPerTrack, (j) => j === i || !published[j]).filter((s) => s.score > 0) : [];
    const list = colisten.length >= Math.min(5, opts.similarPerTrack) ? colisten : mergeLists(colisten, contentSimilar(tracks, popularity, i, opts.similarPerTrack), opts.similarPerTrack);
    similar.push({ items: list.map((s) => s.item), scores: list.map((s) => round(s.score)), because: list.map(() => i) });
  }
  const t3 = performance.now();

  const artifact: TRecsArtifact = {
    format: 1,
    version: opts.version,
    trainedAt: (opts.now ?? new Date()).toISOString(),
    model: modelName,
    counts: { users: Object.keys(users).length, tracks: m.nItems, interactions: m.indices.length },
    tracks: tracks.map((t) => ({ id: t.id, title: t.title, artist: t.artist, artistId: t.artistId, genre: t.genre, loudness: t.loudness, published: t.published })),
    popularity,
    similar,
    users,
  };
  return { artifact, timings: { ...t, similarMs: t3 - t2 } };
}

/**
 * Cold start for a track nobody has played: same artist first, then same genre, then similar
 * loudness; popularity breaks ties so the neighbours are ones people actually like. Scores stay
 * below co-listening ones (< 0.1) so they never outrank real evidence in a merged list.
 */
export function contentSimilar(tracks: { artistId: string; genre: string | null; loudness: number | null; published: boolean }[], popularity: number[], i: number, k: number): { item: number; score: number }[] {
  const me = tracks[i];
  const maxPop = Math.max(1, ...popularity);
  const scores = new Float64Array(tracks.length).fill(-Infinity);
  for (let j = 0; j < tracks.length; j++) {
    const t = tracks[j];
    if (j === i || !t.published) continue;
    let s = 0;
    if (t.artistId === me.artistId) s += 0.05;
    if (me.genre && t.genre && t.genre.toLowerCase() === me.genre.toLowerCase()) s += 0.03;
    if (me.loudness != null && t.loudness != null) s += 0.01 * Math.exp(-Math.abs(me.loudness - t.loudness) / 3);
    if (s === 0) continue;
    scores[j] = s + 0.005 * Math.log1p(popularity[j]) / Math.log1p(maxPop);
  }
  return topK(scores, k);
}

function mergeLists(a: { item: number; score: number }[], b: { item: number; score: number }[], k: number) {
  const seen = new Set(a.map((s) => s.item));
  return [...a, ...b.filter((s) => !seen.has(s.item))].slice(0, k);
}

const round = (x: number) => Math.round(x * 1e6) / 1e6;

/**
 * Ranked picks for users [from, to) with the history item that explains each. Reasons come from
 * item-kNN (cosine over co-listeners): "because you played X" should name the history item that
 * most supports the pick, in terms a listener recognises.
 */
export function computePicks(m: InteractionMatrix, picks: Recommender, itemKnn: ItemKnn, published: boolean[], from: number, to: number, picksPerUser: number): Record<string, TRecsList> {
  const knn = itemKnn.weights;
  const explain = fitWeighting({ kind: 'bm25', k1: 1.2, b: 0.75 }, m);
  const users: Record<string, TRecsList> = {};
  const bestItem = new Int32Array(m.nItems).fill(-1);
  const bestScore = new Float64Array(m.nItems);
  for (let u = from; u < to; u++) {
    const h = historyOf(m, u);
    if (h.items.length === 0) continue;
    const seen = new Set(h.items);
    const scores = picks.score(h);
    const top = topK(scores, picksPerUser, (i) => seen.has(i) || !published[i]).filter((s) => s.score > 0);
    const hv = explain.row(h.items, h.values);
    // The strongest single supporter of every target, in one scatter over the history's rows.
    const touched: number[] = [];
    if (knn && knn.kind === 'sparse') {
      for (let p = 0; p < h.items.length; p++) {
        const i = h.items[p];
        for (let q = knn.indptr[i]; q < knn.indptr[i + 1]; q++) {
          const j = knn.indices[q];
          const c = hv[p] * knn.values[q];
          if (bestItem[j] < 0) touched.push(j);
          if (c > bestScore[j]) { bestScore[j] = c; bestItem[j] = i; }
        }
      }
    }
    const because = top.map(({ item: j }) => bestItem[j]);
    for (const j of touched) { bestItem[j] = -1; bestScore[j] = 0; }
    users[m.userIds[u]] = { items: top.map((s) => s.item), scores: top.map((s) => round(s.score)), because };
  }
  return users;
}
