/**
 * Confidence weights from raw interaction strength (play counts, summed signal weights). Fitted on
 * the training matrix (idf, mean user length) so a history seen only at serving time is weighted
 * exactly like the rows the model was trained on.
 */
import type { InteractionMatrix } from './matrix';

export type Weighting =
  | { kind: 'binary' }
  /** 1 + alpha * log(1 + count / eps): the Hu-Koren-Volinsky log confidence. */
  | { kind: 'log'; alpha: number; eps?: number }
  /** Okapi BM25 with users as documents: saturates heavy repeats, damps items everyone has. */
  | { kind: 'bm25'; k1: number; b: number };

export interface FittedWeighting {
  readonly spec: Weighting;
  /** Weighted values for one user's row (items ascending, raw values). */
  row(items: Int32Array, values: Float64Array): Float64Array;
  /** The whole matrix reweighted; the transpose follows. */
  matrix(m: InteractionMatrix): InteractionMatrix;
  /** Serializable state (idf per item, mean row length). */
  state(): { spec: Weighting; idf?: number[]; avgLen?: number };
}

/**
 * The two weightings every model fits: one for training, one for reading a listener's history at
 * scoring time (the same one unless the model's options name a separate history weighting).
 */
export function fitModelWeightings(opts: { weighting: Weighting; historyWeighting?: Weighting }, m: InteractionMatrix): { w: FittedWeighting; hw: FittedWeighting } {
  const w = fitWeighting(opts.weighting, m);
  return { w, hw: opts.historyWeighting ? fitWeighting(opts.historyWeighting, m) : w };
}

export function fitWeighting(spec: Weighting, m: InteractionMatrix): FittedWeighting {
  let idf: Float64Array | undefined;
  let avgLen = 0;
  if (spec.kind === 'bm25') {
    idf = new Float64Array(m.nItems);
    for (let i = 0; i < m.nItems; i++) {
      const df = m.itemPtr[i + 1] - m.itemPtr[i];
      idf[i] = Math.log((m.nUsers - df + 0.5) / (df + 0.5) + 1);
    }
    let total = 0;
    for (let p = 0; p < m.values.length; p++) total += m.values[p];
    avgLen = total / Math.max(1, m.nUsers);
  }
  return restoreWeighting(spec, idf, avgLen);
}

export function restoreWeighting(spec: Weighting, idf: ArrayLike<number> | undefined, avgLen: number): FittedWeighting {
  const row = (items: Int32Array, values: Float64Array): Float64Array => {
    const out = new Float64Array(values.length);
    switch (spec.kind) {
      case 'binary':
        out.fill(1);
        break;
      case 'log': {
        const eps = spec.eps ?? 1;
        for (let p = 0; p < values.length; p++) out[p] = 1 + spec.alpha * Math.log1p(values[p] / eps);
        break;
      }
      case 'bm25': {
        let len = 0;
        for (let p = 0; p < values.length; p++) len += values[p];
        const norm = spec.k1 * (1 - spec.b + (spec.b * len) / (avgLen || 1));
        for (let p = 0; p < values.length; p++) {
          const i = items[p];
          const w = idf && i < idf.length ? idf[i] : 1;
          out[p] = (w * values[p] * (spec.k1 + 1)) / (values[p] + norm);
        }
        break;
      }
    }
    return out;
  };
  return {
    spec,
    row,
    matrix(m) {
      const values = new Float64Array(m.values.length);
      for (let u = 0; u < m.nUsers; u++) {
        const a = m.indptr[u], b = m.indptr[u + 1];
        values.set(row(m.indices.subarray(a, b), m.values.subarray(a, b)), a);
      }
      return withValues(m, values);
    },
    state: () => ({ spec, idf: idf ? Array.from(idf) : undefined, avgLen: spec.kind === 'bm25' ? avgLen : undefined }),
  };
}

function withValues(m: InteractionMatrix, values: Float64Array): InteractionMatrix {
  const itemValues = new Float64Array(values.length);
  const fill = m.itemPtr.slice(0, m.nItems);
  for (let u = 0; u < m.nUsers; u++) {
    for (let p = m.indptr[u]; p < m.indptr[u + 1]; p++) itemValues[fill[m.indices[p]]++] = values[p];
  }
  return { ...m, values, itemValues };
}
