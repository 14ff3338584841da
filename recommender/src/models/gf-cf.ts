/**
 * GF-CF (Shen et al. 2021, "How Powerful is Graph Convolution for Recommendation?"): a training-free
 * graph filter. With R~ = Du^-1/2 R Di^-1/2 (degree-normalized), a history r scores
 *   r R~^T R~  (linear low-pass filter: a degree-normalized co-listening kNN)
 * + alpha * r Di^-1/2 V V^T Di^1/2  (ideal low-pass: the top `rank` right singular vectors V of R~),
 * the second term carrying the global taste structure the first, purely local one misses.
 */
import type { InteractionMatrix } from '../matrix';
import { orthonormalizeColumns, symmetricEigen } from '../linalg';
import type { Scored } from '../topk';
import { fitModelWeightings, type FittedWeighting, type Weighting } from '../weighting';
import { scoreWithWeights, similarFromWeights, type ItemWeights } from './item-weights';
import type { Recommender, UserHistory } from './types';

export interface GfCfOptions {
  rank: number;
  alpha: number;
  /** Subspace iterations for the singular vectors (3-5 is plenty for a low-pass filter). */
  iterations: number;
  weighting: Weighting;
  historyWeighting?: Weighting;
  seed?: number;
}

export class GfCf implements Recommender {
  readonly name: string;
  weights: ItemWeights | undefined;
  /** n x rank, row-major: Di^-1/2 V (left factor) and Di^1/2 V (right factor). */
  private left = new Float64Array(0);
  private right = new Float64Array(0);
  private w: FittedWeighting | undefined;
  private hw: FittedWeighting | undefined;

  constructor(private readonly opts: GfCfOptions = { rank: 256, alpha: 0.3, iterations: 4, weighting: { kind: 'binary' } }, name = 'gf-cf') {
    this.name = name;
  }

  fit(raw: InteractionMatrix): void {
    const { w, hw } = fitModelWeightings(this.opts, raw);
    [this.w, this.hw] = [w, hw];
    const m = w.matrix(raw);
    const n = m.nItems;
    const du = new Float64Array(m.nUsers);
    const di = new Float64Array(n);
    for (let u = 0; u < m.nUsers; u++) for (let p = m.indptr[u]; p < m.indptr[u + 1]; p++) { du[u] += m.values[p]; di[m.indices[p]] += m.values[p]; }
    // R~ values in CSR order
    const rv = new Float64Array(m.values.length);
    for (let u = 0; u < m.nUsers; u++) {
      for (let p = m.indptr[u]; p < m.indptr[u + 1]; p++) rv[p] = m.values[p] / Math.sqrt(du[u] * di[m.indices[p]]);
    }
    // Linear filter R~^T R~, dense n x n: sum over users of the outer product of their row.
    const W = new Float64Array(n * n);
    for (let u = 0; u < m.nUsers; u++) {
      const a = m.indptr[u], b = m.indptr[u + 1];
      for (let p = a; p < b; p++) {
        const r = m.indices[p] * n;
        const x = rv[p];
        for (let q = a; q < b; q++) W[r + m.indices[q]] += x * rv[q];
      }
    }
    this.weights = { kind: 'dense', n, w: W };
    // Top singular vectors of R~ by subspace iteration on R~^T R~ (applied sparsely).
    const k = Math.min(this.opts.rank, n, m.nUsers);
    const applyGram = (q: Float64Array): Float64Array => {
      const t = new Float64Array(m.nUsers * k); // R~ Q
      for (let u = 0; u < m.nUsers; u++) {
        const tu = u * k;
        for (let p = m.indptr[u]; p < m.indptr[u + 1]; p++) {
          const x = rv[p], qi = m.indices[p] * k;
          for (let j = 0; j < k; j++) t[tu + j] += x * q[qi + j];
        }
      }
      const z = new Float64Array(n * k); // R~^T T
      for (let u = 0; u < m.nUsers; u++) {
        const tu = u * k;
        for (let p = m.indptr[u]; p < m.indptr[u + 1]; p++) {
          const x = rv[p], zi = m.indices[p] * k;
          for (let j = 0; j < k; j++) z[zi + j] += x * t[tu + j];
        }
      }
      return z;
    };
    let seed = this.opts.seed ?? 7;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296) - 0.5;
    let q: Float64Array = new Float64Array(n * k);
    for (let i = 0; i < q.length; i++) q[i] = rnd();
    orthonormalizeColumns(q, n, k);
    for (let it = 0; it < this.opts.iterations; it++) {
      q = applyGram(q);
      orthonormalizeColumns(q, n, k);
    }
    // Rayleigh-Ritz: small k x k problem Q^T G Q.
    const gq = applyGram(q);
    const small = new Float64Array(k * k);
    for (let i = 0; i < n; i++) {
      const r = i * k;
      for (let a = 0; a < k; a++) { const qa = q[r + a]; if (qa === 0) continue; for (let b = 0; b < k; b++) small[a * k + b] += qa * gq[r + b]; }
    }
    for (let a = 0; a < k; a++) for (let b = 0; b < a; b++) { const s = (small[a * k + b] + small[b * k + a]) / 2; small[a * k + b] = s; small[b * k + a] = s; }
    const { vectors } = symmetricEigen(small, k);
    this.left = new Float64Array(n * k);
    this.right = new Float64Array(n * k);
    for (let i = 0; i < n; i++) {
      const r = i * k;
      const s = Math.sqrt(di[i] || 1);
      for (let c = 0; c < k; c++) {
        let v = 0;
        for (let a = 0; a < k; a++) v += q[r + a] * vectors[a * k + c];
        this.left[r + c] = v / s;
        this.right[r + c] = v * s;
      }
    }
  }

  score(h: UserHistory): Float64Array {
    if (!this.weights || !this.hw) throw new Error('GfCf.score before fit');
    const hv = this.hw.row(h.items, h.values);
    const out = scoreWithWeights(this.weights, h.items, hv);
    const n = this.weights.n;
    const k = this.left.length / Math.max(1, n);
    const z = new Float64Array(k);
    for (let p = 0; p < h.items.length; p++) {
      const i = h.items[p];
      if (i >= n) continue;
      for (let c = 0; c < k; c++) z[c] += hv[p] * this.left[i * k + c];
    }
    const a = this.opts.alpha;
    for (let j = 0; j < n; j++) {
      let s = 0;
      const r = j * k;
      for (let c = 0; c < k; c++) s += z[c] * this.right[r + c];
      out[j] += a * s;
    }
    return out;
  }

  similar(item: number, k: number): Scored[] {
    return this.weights ? similarFromWeights(this.weights, item, k) : [];
  }

  /** The same fitted filter with another weight on the low-rank term: tuning alpha needs no refit. */
  withAlpha(alpha: number, name = this.name): GfCf {
    const g = new GfCf({ ...this.opts, alpha }, name);
    [g.weights, g.left, g.right, g.w, g.hw] = [this.weights, this.left, this.right, this.w, this.hw];
    return g;
  }
}
