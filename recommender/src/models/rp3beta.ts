/**
 * RP3beta (Paudel et al. 2017): a 3-step random walk item -> user -> item, with transition
 * probabilities raised to alpha and the arrival item's popularity divided out (^beta) so the walk
 * does not always end at the hits. Rows pruned to the `neighbors` best.
 */
import type { InteractionMatrix } from '../matrix';
import { topK, type Scored } from '../topk';
import { fitModelWeightings, type FittedWeighting, type Weighting } from '../weighting';
import { scoreWithWeights, similarFromWeights, type ItemWeights } from './item-weights';
import type { Recommender, UserHistory } from './types';

export interface Rp3betaOptions {
  alpha: number;
  beta: number;
  neighbors: number;
  weighting: Weighting;
  /** How a listener's own history is weighted when scoring (defaults to `weighting`): play counts can
   * say which of their items speak for their taste even where the item-item weights ignore them. */
  historyWeighting?: Weighting;
}

export class Rp3beta implements Recommender {
  readonly name: string;
  weights: ItemWeights | undefined;
  private w: FittedWeighting | undefined;
  private hw: FittedWeighting | undefined;

  constructor(private readonly opts: Rp3betaOptions = { alpha: 1, beta: 0.5, neighbors: 200, weighting: { kind: 'binary' } }, name = 'rp3beta') {
    this.name = name;
  }

  fit(raw: InteractionMatrix): void {
    const { w, hw } = fitModelWeightings(this.opts, raw);
    [this.w, this.hw] = [w, hw];
    const m = w.matrix(raw);
    const n = m.nItems;
    const { alpha, beta } = this.opts;
    // Row sums for the two transition matrices.
    const userSum = new Float64Array(m.nUsers);
    for (let u = 0; u < m.nUsers; u++) for (let p = m.indptr[u]; p < m.indptr[u + 1]; p++) userSum[u] += m.values[p];
    const itemSum = new Float64Array(n);
    for (let i = 0; i < n; i++) for (let q = m.itemPtr[i]; q < m.itemPtr[i + 1]; q++) itemSum[i] += m.itemValues[q];
    const popPenalty = new Float64Array(n);
    for (let j = 0; j < n; j++) {
      const deg = m.itemPtr[j + 1] - m.itemPtr[j];
      popPenalty[j] = deg > 0 ? Math.pow(deg, -beta) : 0;
    }
    // Transition probabilities raised to alpha, once per stored entry (pow is the expensive part).
    const toItem = new Float64Array(m.values.length); // user -> item, CSR order
    for (let u = 0; u < m.nUsers; u++) for (let p = m.indptr[u]; p < m.indptr[u + 1]; p++) toItem[p] = Math.pow(m.values[p] / userSum[u], alpha);
    const toUser = new Float64Array(m.itemValues.length); // item -> user, CSC order
    for (let i = 0; i < n; i++) for (let q = m.itemPtr[i]; q < m.itemPtr[i + 1]; q++) toUser[q] = Math.pow(m.itemValues[q] / itemSum[i], alpha);
    const acc = new Float64Array(n);
    const indptr = new Int32Array(n + 1);
    const idx: number[] = [];
    const val: number[] = [];
    for (let i = 0; i < n; i++) {
      acc.fill(0);
      for (let q = m.itemPtr[i]; q < m.itemPtr[i + 1]; q++) {
        const u = m.itemUsers[q];
        const piu = toUser[q];
        for (let p = m.indptr[u]; p < m.indptr[u + 1]; p++) acc[m.indices[p]] += piu * toItem[p];
      }
      acc[i] = 0;
      for (let j = 0; j < n; j++) if (acc[j] !== 0) acc[j] *= popPenalty[j];
      const top = topK(acc, this.opts.neighbors).filter((s) => s.score > 0).sort((a, b) => a.item - b.item);
      for (const s of top) { idx.push(s.item); val.push(s.score); }
      indptr[i + 1] = idx.length;
    }
    this.weights = { kind: 'sparse', n, indptr, indices: Int32Array.from(idx), values: Float32Array.from(val) };
  }

  score(h: UserHistory): Float64Array {
    if (!this.weights || !this.w) throw new Error('Rp3beta.score before fit');
    return scoreWithWeights(this.weights, h.items, (this.hw ?? this.w).row(h.items, h.values));
  }

  similar(item: number, k: number): Scored[] {
    return this.weights ? similarFromWeights(this.weights, item, k) : [];
  }
}
