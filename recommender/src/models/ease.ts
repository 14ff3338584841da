/**
 * EASE^R (Steck 2019): a closed-form item-item model, B = I - P diag(1/diag(P)) with
 * P = (X^T X + lambda I)^-1 and diag(B) = 0. The inverse is taken on the smaller side: with fewer
 * users than items, Woodbury gives P = (I - X^T (X X^T + lambda I)^-1 X) / lambda, so the cubic work
 * is nUsers^3 instead of nItems^3 (Last.fm: 1,878^3 rather than 4,476^3).
 */
import type { InteractionMatrix } from '../matrix';
import { spdInverse } from '../linalg';
import type { Scored } from '../topk';
import { fitModelWeightings, type FittedWeighting, type Weighting } from '../weighting';
import { scoreWithWeights, similarFromWeights, type ItemWeights } from './item-weights';
import type { Recommender, UserHistory } from './types';

export interface EaseOptions {
  lambda: number;
  weighting: Weighting;
  /** How a listener's own history is weighted when scoring (defaults to `weighting`): play counts can
   * say which of their items speak for their taste even where the item-item weights ignore them. */
  historyWeighting?: Weighting;
}

export class Ease implements Recommender {
  readonly name: string;
  weights: ItemWeights | undefined;
  private w: FittedWeighting | undefined;
  private hw: FittedWeighting | undefined;

  constructor(private readonly opts: EaseOptions = { lambda: 200, weighting: { kind: 'binary' } }, name = 'ease') {
    this.name = name;
  }

  fit(raw: InteractionMatrix): void {
    const { w, hw } = fitModelWeightings(this.opts, raw);
    [this.w, this.hw] = [w, hw];
    const m = w.matrix(raw);
    const P = m.nUsers < m.nItems ? precisionWoodbury(m, this.opts.lambda) : precisionDirect(m, this.opts.lambda);
    const n = m.nItems;
    // B[i, j] = -P[i, j] / P[j, j], zero diagonal; reuse P's storage.
    const diag = new Float64Array(n);
    for (let j = 0; j < n; j++) diag[j] = P[j * n + j];
    for (let i = 0; i < n; i++) {
      const r = i * n;
      for (let j = 0; j < n; j++) P[r + j] = -P[r + j] / diag[j];
      P[r + i] = 0;
    }
    this.weights = { kind: 'dense', n, w: P };
  }

  score(h: UserHistory): Float64Array {
    if (!this.weights || !this.w) throw new Error('Ease.score before fit');
    return scoreWithWeights(this.weights, h.items, (this.hw ?? this.w).row(h.items, h.values));
  }

  similar(item: number, k: number): Scored[] {
    return this.weights ? similarFromWeights(this.weights, item, k) : [];
  }
}

/** (X^T X + lambda I)^-1 formed and inverted directly: nItems^2 memory, nItems^3 / 2 multiply-adds. */
export function precisionDirect(m: InteractionMatrix, lambda: number): Float64Array {
  const n = m.nItems;
  const G = new Float64Array(n * n);
  for (let u = 0; u < m.nUsers; u++) {
    const a = m.indptr[u], b = m.indptr[u + 1];
    for (let p = a; p < b; p++) {
      const r = m.indices[p] * n;
      const v = m.values[p];
      for (let q = a; q < b; q++) G[r + m.indices[q]] += v * m.values[q];
    }
  }
  for (let i = 0; i < n; i++) G[i * n + i] += lambda;
  return spdInverse(G, n);
}

/** The same matrix through Woodbury; cubic only in nUsers. */
export function precisionWoodbury(m: InteractionMatrix, lambda: number): Float64Array {
  const nu = m.nUsers;
  const ni = m.nItems;
  // K = (X X^T + lambda I)^-1, users x users
  const S = new Float64Array(nu * nu);
  for (let i = 0; i < ni; i++) {
    const a = m.itemPtr[i], b = m.itemPtr[i + 1];
    for (let p = a; p < b; p++) {
      const r = m.itemUsers[p] * nu;
      const v = m.itemValues[p];
      for (let q = a; q < b; q++) S[r + m.itemUsers[q]] += v * m.itemValues[q];
    }
  }
  for (let u = 0; u < nu; u++) S[u * nu + u] += lambda;
  const K = spdInverse(S, nu);
  // KX = K X, users x items (dense)
  const KX = new Float64Array(nu * ni);
  for (let u = 0; u < nu; u++) {
    const ru = u * nu;
    const out = u * ni;
    for (let v = 0; v < nu; v++) {
      const c = K[ru + v];
      for (let p = m.indptr[v]; p < m.indptr[v + 1]; p++) KX[out + m.indices[p]] += c * m.values[p];
    }
  }
  // P = (I - X^T KX) / lambda
  const P = new Float64Array(ni * ni);
  const inv = 1 / lambda;
  for (let i = 0; i < ni; i++) {
    const r = i * ni;
    for (let q = m.itemPtr[i]; q < m.itemPtr[i + 1]; q++) {
      const c = m.itemValues[q];
      const src = m.itemUsers[q] * ni;
      for (let j = 0; j < ni; j++) P[r + j] -= c * KX[src + j];
    }
    for (let j = 0; j < ni; j++) P[r + j] *= inv;
    P[r + i] += inv;
  }
  return P;
}
