/**
 * User-kNN: a listener's picks are what their `neighbors` most similar listeners (cosine over item
 * rows, sharpened by an exponent) have, weighted by that similarity. Unlike item models it needs the
 * training rows at scoring time, so the platform uses it offline and in blends, not alone at scale.
 */
import type { InteractionMatrix } from '../matrix';
import { topK, type Scored } from '../topk';
import { fitWeighting, type FittedWeighting, type Weighting } from '../weighting';
import type { Recommender, UserHistory } from './types';

export interface UserKnnOptions {
  neighbors: number;
  shrink: number;
  /** Similarities are raised to this power: > 1 trusts the closest neighbours more. */
  exponent: number;
  weighting: Weighting;
}

export class UserKnn implements Recommender {
  readonly name: string;
  private m: InteractionMatrix | undefined;
  private w: FittedWeighting | undefined;
  private norms = new Float64Array(0);
  /** Reused per score() call; always all zeros between calls. */
  private scratch = new Float64Array(0);

  constructor(private readonly opts: UserKnnOptions = { neighbors: 100, shrink: 0, exponent: 1, weighting: { kind: 'binary' } }, name = 'user-knn') {
    this.name = name;
  }

  fit(raw: InteractionMatrix): void {
    this.w = fitWeighting(this.opts.weighting, raw);
    const m = this.w.matrix(raw);
    this.m = m;
    this.norms = new Float64Array(m.nUsers);
    for (let u = 0; u < m.nUsers; u++) {
      let s = 0;
      for (let p = m.indptr[u]; p < m.indptr[u + 1]; p++) s += m.values[p] * m.values[p];
      this.norms[u] = Math.sqrt(s);
    }
  }

  score(h: UserHistory): Float64Array {
    const m = this.m;
    if (!m || !this.w) throw new Error('UserKnn.score before fit');
    const hv = this.w.row(h.items, h.values);
    let hn = 0;
    for (let p = 0; p < hv.length; p++) hn += hv[p] * hv[p];
    hn = Math.sqrt(hn);
    // Dot products only with the users who share an item (the touched list), not all users.
    const sim = this.scratch.length === m.nUsers ? this.scratch : (this.scratch = new Float64Array(m.nUsers));
    const touched: number[] = [];
    for (let p = 0; p < h.items.length; p++) {
      const i = h.items[p];
      if (i >= m.nItems) continue;
      for (let q = m.itemPtr[i]; q < m.itemPtr[i + 1]; q++) {
        const v = m.itemUsers[q];
        if (sim[v] === 0) touched.push(v);
        sim[v] += hv[p] * m.itemValues[q];
      }
    }
    // Cosine first; the exponent is monotonic, so it only needs applying to the neighbours kept.
    const cos = new Float64Array(touched.length);
    for (let t = 0; t < touched.length; t++) {
      const v = touched[t];
      cos[t] = sim[v] / (hn * this.norms[v] + this.opts.shrink);
      sim[v] = 0; // leave the scratch clean for the next call
    }
    // The user themself (same history) would be their own best neighbour; skip near-identical rows.
    const best = topK(cos, this.opts.neighbors + 1)
      .filter((s) => s.score < 0.999999)
      .slice(0, this.opts.neighbors)
      .map((s) => ({ item: touched[s.item], score: Math.pow(s.score, this.opts.exponent) }));
    const out = new Float64Array(m.nItems);
    for (const { item: v, score } of best) {
      for (let p = m.indptr[v]; p < m.indptr[v + 1]; p++) out[m.indices[p]] += score * m.values[p];
    }
    return out;
  }

  similar(_item: number, _k: number): Scored[] {
    return [];
  }
}
