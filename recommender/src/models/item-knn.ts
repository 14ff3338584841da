/**
 * Item-kNN: cosine similarity between item columns of the (weighted) user x item matrix, each row
 * pruned to its `neighbors` best. Co-occurrences are accumulated item by item through the users who
 * share it, so the cost is sum over users of |history|^2, never nItems^2 pairs.
 */
import type { InteractionMatrix } from '../matrix';
import { topK, type Scored } from '../topk';
import { fitModelWeightings, type FittedWeighting, type Weighting } from '../weighting';
import { scoreWithWeights, similarFromWeights, transposeSparse, type ItemWeights } from './item-weights';
import type { Recommender, UserHistory } from './types';

export interface ItemKnnOptions {
  neighbors: number;
  /** Added to the cosine denominator: damps similarities resting on very few co-listeners. */
  shrink: number;
  /** Similarities are raised to this power (> 1 sharpens: trust the closest neighbours more). */
  exponent?: number;
  /** Scores of target item j are divided by popularity(j)^beta (0 = off): counters the pull to the hits. */
  beta?: number;
  weighting: Weighting;
  /** How a listener's own history is weighted when scoring (defaults to `weighting`): play counts can
   * say which of their items speak for their taste even where the item-item weights ignore them. */
  historyWeighting?: Weighting;
}

export class ItemKnn implements Recommender {
  readonly name: string;
  weights: ItemWeights | undefined;
  private w: FittedWeighting | undefined;
  private hw: FittedWeighting | undefined;

  constructor(private readonly opts: ItemKnnOptions = { neighbors: 100, shrink: 0, weighting: { kind: 'binary' } }, name = 'item-knn') {
    this.name = name;
  }

  fit(raw: InteractionMatrix): void {
    const { w, hw } = fitModelWeightings(this.opts, raw);
    [this.w, this.hw] = [w, hw];
    const m = w.matrix(raw);
    const n = m.nItems;
    const norm = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let q = m.itemPtr[i]; q < m.itemPtr[i + 1]; q++) s += m.itemValues[q] * m.itemValues[q];
      norm[i] = Math.sqrt(s);
    }
    const acc = new Float64Array(n);
    const indptr = new Int32Array(n + 1);
    const idx: number[] = [];
    const val: number[] = [];
    for (let i = 0; i < n; i++) {
      acc.fill(0);
      for (let q = m.itemPtr[i]; q < m.itemPtr[i + 1]; q++) {
        const u = m.itemUsers[q];
        const a = m.itemValues[q];
        for (let p = m.indptr[u]; p < m.indptr[u + 1]; p++) acc[m.indices[p]] += a * m.values[p];
      }
      acc[i] = 0;
      const ex = this.opts.exponent ?? 1;
      for (let j = 0; j < n; j++) if (acc[j] !== 0) acc[j] = Math.pow(acc[j] / (norm[i] * norm[j] + this.opts.shrink), ex);
      if (this.opts.neighbors >= n) {
        // Every neighbour kept: a scan in index order is what the heap would return, without the heap.
        for (let j = 0; j < n; j++) if (acc[j] > 0) { idx.push(j); val.push(acc[j]); }
      } else {
        const top = topK(acc, this.opts.neighbors).filter((s) => s.score > 0).sort((a, b) => a.item - b.item);
        for (const s of top) { idx.push(s.item); val.push(s.score); }
      }
      indptr[i + 1] = idx.length;
    }
    // Row j holds j's best neighbors; scoring reads W[i, :] for history item i, so transpose: a target
    // item is then scored only from the history items among its own neighbors (classic item-kNN).
    const beta = this.opts.beta ?? 0;
    if (beta !== 0) {
      // Row i of the pruned matrix holds target i's neighbours: scale it by popularity(i)^-beta.
      for (let i = 0; i < n; i++) {
        const f = Math.pow(Math.max(1, m.itemPtr[i + 1] - m.itemPtr[i]), -beta);
        for (let q = indptr[i]; q < indptr[i + 1]; q++) val[q] *= f;
      }
    }
    this.weights = transposeSparse({ kind: 'sparse', n, indptr, indices: Int32Array.from(idx), values: Float32Array.from(val) });
  }

  score(h: UserHistory): Float64Array {
    if (!this.weights || !this.w) throw new Error('ItemKnn.score before fit');
    return scoreWithWeights(this.weights, h.items, (this.hw ?? this.w).row(h.items, h.values));
  }

  similar(item: number, k: number): Scored[] {
    return this.weights ? similarFromWeights(this.weights, item, k) : [];
  }
}
