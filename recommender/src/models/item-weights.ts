/**
 * Item-to-item weight matrices (EASE's B, kNN similarities, RP3beta transitions) and how a history is
 * scored against them: score = sum over history items i of weight(i) * W[i, :]. Dense while training
 * and evaluating; pruned to the top-M per row for the served artifact.
 */
import { topK, type Scored } from '../topk';

export type ItemWeights =
  | { kind: 'dense'; n: number; w: Float64Array }
  | { kind: 'sparse'; n: number; indptr: Int32Array; indices: Int32Array; values: Float32Array };

export function scoreWithWeights(W: ItemWeights, items: Int32Array, weights: Float64Array): Float64Array {
  const n = W.n;
  const out = new Float64Array(n);
  if (W.kind === 'dense') {
    const w = W.w;
    for (let p = 0; p < items.length; p++) {
      const i = items[p];
      if (i >= n) continue;
      const c = weights[p];
      const r = i * n;
      for (let j = 0; j < n; j++) out[j] += c * w[r + j];
    }
  } else {
    for (let p = 0; p < items.length; p++) {
      const i = items[p];
      if (i >= n) continue;
      const c = weights[p];
      for (let q = W.indptr[i]; q < W.indptr[i + 1]; q++) out[W.indices[q]] += c * W.values[q];
    }
  }
  return out;
}

export function rowOf(W: ItemWeights, i: number): Float64Array {
  const out = new Float64Array(W.n);
  if (W.kind === 'dense') out.set(W.w.subarray(i * W.n, (i + 1) * W.n));
  else for (let q = W.indptr[i]; q < W.indptr[i + 1]; q++) out[W.indices[q]] = W.values[q];
  return out;
}

export function similarFromWeights(W: ItemWeights, item: number, k: number): Scored[] {
  if (item < 0 || item >= W.n) return [];
  return topK(rowOf(W, item), k, (j) => j === item).filter((s) => s.score > 0);
}

/** Keep the `m` largest entries of each row (the served artifact stays O(n * m)). */
export function pruneRows(W: ItemWeights, m: number): ItemWeights & { kind: 'sparse' } {
  const n = W.n;
  const indptr = new Int32Array(n + 1);
  const idx: number[] = [];
  const val: number[] = [];
  for (let i = 0; i < n; i++) {
    const row = rowOf(W, i);
    const top = topK(row, m).filter((s) => s.score !== 0);
    top.sort((a, b) => a.item - b.item);
    for (const s of top) { idx.push(s.item); val.push(s.score); }
    indptr[i + 1] = idx.length;
  }
  return { kind: 'sparse', n, indptr, indices: Int32Array.from(idx), values: Float32Array.from(val) };
}

/** W^T of a sparse matrix (kNN prunes per target item: keep W[i, j] when i is among j's best). */
export function transposeSparse(W: ItemWeights & { kind: 'sparse' }): ItemWeights & { kind: 'sparse' } {
  const n = W.n;
  const indptr = new Int32Array(n + 1);
  for (let q = 0; q < W.indices.length; q++) indptr[W.indices[q] + 1]++;
  for (let i = 0; i < n; i++) indptr[i + 1] += indptr[i];
  const fill = indptr.slice(0, n);
  const indices = new Int32Array(W.indices.length);
  const values = new Float32Array(W.indices.length);
  for (let i = 0; i < n; i++) {
    for (let q = W.indptr[i]; q < W.indptr[i + 1]; q++) {
      const d = fill[W.indices[q]]++;
      indices[d] = i;
      values[d] = W.values[q];
    }
  }
  return { kind: 'sparse', n, indptr, indices, values };
}
