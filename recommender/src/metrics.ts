/**
 * Offline ranking metrics, defined as in the LightGCN evaluation the dataset's reference figures use:
 * Recall@k = hits / |relevant|, NDCG@k with binary gains and the ideal DCG over min(k, |relevant|)
 * items; both averaged over users with at least one held-out item.
 */

export function recallAtK(ranked: readonly number[] | Int32Array, relevant: ReadonlySet<number>, k: number): number {
  if (relevant.size === 0) return 0;
  let hits = 0;
  const n = Math.min(k, ranked.length);
  for (let r = 0; r < n; r++) if (relevant.has(ranked[r])) hits++;
  return hits / relevant.size;
}

export function ndcgAtK(ranked: readonly number[] | Int32Array, relevant: ReadonlySet<number>, k: number): number {
  if (relevant.size === 0) return 0;
  let dcg = 0;
  const n = Math.min(k, ranked.length);
  for (let r = 0; r < n; r++) if (relevant.has(ranked[r])) dcg += 1 / Math.log2(r + 2);
  let idcg = 0;
  const ideal = Math.min(k, relevant.size);
  for (let r = 0; r < ideal; r++) idcg += 1 / Math.log2(r + 2);
  return dcg / idcg;
}
