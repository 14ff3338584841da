/**
 * Implicit ALS (Hu, Koren, Volinsky 2008): user and item factors minimising
 *   sum over all (u, i) of c_ui (p_ui - x_u . y_i)^2 + reg (|x|^2 + |y|^2),
 * with p_ui = 1 for observed pairs (0 otherwise) and confidence c_ui = 1 + alpha * w_ui (w from the
 * model's weighting of play counts; 1 for unobserved pairs). Each half-step solves every row's f x f
 * system with a few conjugate-gradient steps warm-started from the previous factors (Takacs et al.
 * 2011), using Y^T Y + sum over the row's items only: O(f^2 + |row| f) per CG step.
 * Scoring folds a history in with one exact solve against the item factors, so histories unseen at
 * fit time score the same way as training ones.
 */
import type { InteractionMatrix } from '../matrix';
import { choleskyInPlace } from '../linalg';
import type { Scored } from '../topk';
import { fitModelWeightings, type FittedWeighting, type Weighting } from '../weighting';
import { mulberry32 } from '../prng';
import type { Recommender, UserHistory } from './types';

export interface IalsOptions {
  factors: number;
  reg: number;
  /** Confidence slope: c = 1 + alpha * weighted value. */
  alpha: number;
  iterations: number;
  /** Conjugate-gradient steps per row and half-iteration. */
  cgSteps: number;
  weighting: Weighting;
  seed?: number;
}

export class Ials implements Recommender {
  readonly name: string;
  /** Item factors, nItems x factors, row-major. */
  itemFactors: Float64Array = new Float64Array(0);
  private w: FittedWeighting | undefined;
  private gram: Float64Array = new Float64Array(0);
  private nItems = 0;

  constructor(private readonly opts: IalsOptions, name = 'ials') {
    this.name = name;
  }

  fit(raw: InteractionMatrix): void {
    const { w } = fitModelWeightings(this.opts, raw);
    this.w = w;
    const m = w.matrix(raw);
    const f = this.opts.factors;
    this.nItems = m.nItems;
    const rnd = mulberry32(this.opts.seed ?? 17);
    const init = (n: number) => Float64Array.from({ length: n * f }, () => (rnd() - 0.5) * (0.1 / Math.sqrt(f)));
    const X = init(m.nUsers);
    const Y = init(m.nItems);
    const conf = (v: number) => this.opts.alpha * v; // c - 1
    for (let it = 0; it < this.opts.iterations; it++) {
      solveSide(X, Y, m.nUsers, m.indptr, m.indices, m.values, f, this.opts.reg, this.opts.cgSteps, conf);
      solveSide(Y, X, m.nItems, m.itemPtr, m.itemUsers, m.itemValues, f, this.opts.reg, this.opts.cgSteps, conf);
    }
    this.itemFactors = Y;
    this.gram = gramOf(Y, m.nItems, f);
  }

  /** x = (Y^T Y + sum_i (c_i - 1) y_i y_i^T + reg I)^-1 sum_i c_i y_i, solved exactly, then Y x. */
  score(h: UserHistory): Float64Array {
    if (!this.w) throw new Error('Ials.score before fit');
    const f = this.opts.factors;
    const n = this.nItems;
    const Y = this.itemFactors;
    const v = this.w.row(h.items, h.values);
    const A = Float64Array.from(this.gram);
    for (let d = 0; d < f; d++) A[d * f + d] += this.opts.reg;
    const b = new Float64Array(f);
    for (let p = 0; p < h.items.length; p++) {
      const i = h.items[p];
      if (i >= n) continue;
      const c1 = this.opts.alpha * v[p];
      const r = i * f;
      for (let a = 0; a < f; a++) {
        const ya = Y[r + a];
        b[a] += (1 + c1) * ya;
        const ra = a * f;
        for (let c = 0; c <= a; c++) A[ra + c] += c1 * ya * Y[r + c];
      }
    }
    for (let a = 0; a < f; a++) for (let c = 0; c < a; c++) A[c * f + a] = A[a * f + c];
    choleskyInPlace(A, f);
    const x = choleskySolve(A, b, f);
    const out = new Float64Array(n);
    for (let j = 0; j < n; j++) {
      let s = 0;
      const r = j * f;
      for (let a = 0; a < f; a++) s += x[a] * Y[r + a];
      out[j] = s;
    }
    return out;
  }

  similar(_item: number, _k: number): Scored[] {
    return [];
  }
}

function gramOf(F: Float64Array, n: number, f: number): Float64Array {
  const G = new Float64Array(f * f);
  for (let i = 0; i < n; i++) {
    const r = i * f;
    for (let a = 0; a < f; a++) {
      const fa = F[r + a];
      if (fa === 0) continue;
      const ga = a * f;
      for (let c = 0; c < f; c++) G[ga + c] += fa * F[r + c];
    }
  }
  return G;
}

/** One half-iteration: every row of `X` re-solved against the fixed factors `Y` by a few CG steps. */
function solveSide(X: Float64Array, Y: Float64Array, rows: number, ptr: Int32Array, idx: Int32Array, vals: Float64Array, f: number, reg: number, steps: number, conf: (v: number) => number): void {
  const G = gramOf(Y, Y.length / f, f);
  const r = new Float64Array(f), p = new Float64Array(f), Ap = new Float64Array(f);
  const apply = (u: number, vec: Float64Array, out: Float64Array) => {
    // (G + reg I) vec + sum over the row's items of (c - 1) (y . vec) y
    for (let a = 0; a < f; a++) {
      let s = reg * vec[a];
      const ga = a * f;
      for (let c = 0; c < f; c++) s += G[ga + c] * vec[c];
      out[a] = s;
    }
    for (let q = ptr[u]; q < ptr[u + 1]; q++) {
      const yr = idx[q] * f;
      let dot = 0;
      for (let a = 0; a < f; a++) dot += Y[yr + a] * vec[a];
      const c = conf(vals[q]) * dot;
      for (let a = 0; a < f; a++) out[a] += c * Y[yr + a];
    }
  };
  const x = new Float64Array(f);
  for (let u = 0; u < rows; u++) {
    const xr = u * f;
    for (let a = 0; a < f; a++) x[a] = X[xr + a];
    // r = b - A x with b = sum over the row's items of c * y
    apply(u, x, Ap);
    for (let a = 0; a < f; a++) r[a] = -Ap[a];
    for (let q = ptr[u]; q < ptr[u + 1]; q++) {
      const yr = idx[q] * f;
      const c = 1 + conf(vals[q]);
      for (let a = 0; a < f; a++) r[a] += c * Y[yr + a];
    }
    p.set(r);
    let rr = 0;
    for (let a = 0; a < f; a++) rr += r[a] * r[a];
    for (let s = 0; s < steps && rr > 1e-20; s++) {
      apply(u, p, Ap);
      let pAp = 0;
      for (let a = 0; a < f; a++) pAp += p[a] * Ap[a];
      const step = rr / pAp;
      let rrNext = 0;
      for (let a = 0; a < f; a++) { x[a] += step * p[a]; r[a] -= step * Ap[a]; rrNext += r[a] * r[a]; }
      const beta = rrNext / rr;
      for (let a = 0; a < f; a++) p[a] = r[a] + beta * p[a];
      rr = rrNext;
    }
    for (let a = 0; a < f; a++) X[xr + a] = x[a];
  }
}

/** Solve L L^T x = b for the lower-triangular L left by choleskyInPlace. */
export function choleskySolve(L: Float64Array, b: Float64Array, n: number): Float64Array {
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= L[i * n + k] * y[k];
    y[i] = s / L[i * n + i];
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i];
    for (let k = i + 1; k < n; k++) s -= L[k * n + i] * x[k];
    x[i] = s / L[i * n + i];
  }
  return x;
}
