/**
 * Model selection from the training file alone. A validation split is carved out of the training
 * rows the way the Last.fm test split was made from the full data (each row held out with
 * probability 0.2, independently; README of the dataset and recommender/README.md), every part of
 * personal picks is tuned on it, then the blend weights; `recs eval` retrains on the whole training
 * file with the chosen settings (committed in tuned-picks.ts) and scores the test file once.
 * Nothing here takes a test file: the held-out rows all come from `rows`.
 */
import type { Interaction, InteractionMatrix } from './matrix';
import { buildMatrix } from './matrix';
import { evaluate, heldOut, type EvalResult } from './offline-eval';
import { ndcgAtK, recallAtK } from './metrics';
import { topK } from './topk';
import { historyOf, type Recommender, type UserHistory } from './models/types';
import { scoreWithWeights, type ItemWeights } from './models/item-weights';
import { fitWeighting, type Weighting } from './weighting';
import { GfCf } from './models/gf-cf';
import { Ease } from './models/ease';
import { ItemKnn } from './models/item-knn';
import { Rp3beta } from './models/rp3beta';
import { UserKnn } from './models/user-knn';
import { Ials } from './models/ials';
import { mulberry32 } from './prng';
import { PICK_PARTS, SCALABLE_PARTS, partName, type PartName, type PicksConfig, type ScalablePartName } from './personal-picks';

/** Fraction of each listener's training rows held out for validation (the test split's own fraction). */
export const VALIDATION_FRACTION = 0.2;
export const VALIDATION_SEED = 20_111;

/**
 * Each row goes to validation with probability `fraction`, in file order, from a seeded stream;
 * a listener never loses all of their rows (the test split also keeps every test user in train).
 */
export function carveValidation(rows: readonly Interaction[], fraction = VALIDATION_FRACTION, seed = VALIDATION_SEED): { fit: Interaction[]; holdout: Interaction[] } {
  const rnd = mulberry32(seed);
  const isHeld = rows.map(() => rnd() < fraction);
  const kept = new Map<string, number>();
  rows.forEach((r, p) => { if (!isHeld[p]) kept.set(r.user, (kept.get(r.user) ?? 0) + 1); });
  rows.forEach((r, p) => {
    if (isHeld[p] && !kept.has(r.user)) { isHeld[p] = false; kept.set(r.user, 1); }
  });
  const fit: Interaction[] = [];
  const holdout: Interaction[] = [];
  rows.forEach((r, p) => (isHeld[p] ? holdout : fit).push(r));
  return { fit, holdout };
}

/** The validation problem: the matrix to fit, the listeners to rank and what they went on to play. */
export class ValidationSet {
  readonly fit: InteractionMatrix;
  readonly truth: Map<string, Set<number>>;
  /** Row u of every score table is the u-th listener of `truth` (always known to `fit`). */
  readonly users: string[];
  readonly histories: UserHistory[];
  readonly seen: Set<number>[];

  constructor(rows: readonly Interaction[], fraction = VALIDATION_FRACTION, seed = VALIDATION_SEED) {
    const { fit, holdout } = carveValidation(rows, fraction, seed);
    this.fit = buildMatrix(fit);
    this.truth = heldOut(this.fit, holdout);
    this.users = [...this.truth.keys()];
    this.histories = this.users.map((u) => historyOf(this.fit, this.fit.userIndex.get(u)!));
    this.seen = this.histories.map((h) => new Set(h.items));
  }

  /** Every listener's scores, each row divided by its max (exactly what Blend does before weighting). */
  table(score: (h: UserHistory) => Float64Array): Float64Array {
    const n = this.fit.nItems;
    const t = new Float64Array(this.users.length * n);
    this.histories.forEach((h, u) => {
      const s = score(h);
      let max = 0;
      for (let j = 0; j < n; j++) if (s[j] > max) max = s[j];
      if (max > 0) for (let j = 0; j < n; j++) t[u * n + j] = s[j] / max;
    });
    return t;
  }

  /** Recall@k / NDCG@k of the weighted sum of score tables. */
  measure(tables: readonly Float64Array[], weights: readonly number[], k: number): { recall: number; ndcg: number } {
    const n = this.fit.nItems;
    const acc = new Float64Array(n);
    let recall = 0, ndcg = 0;
    this.users.forEach((user, u) => {
      acc.fill(0);
      tables.forEach((t, p) => {
        const w = weights[p];
        if (w === 0) return;
        const base = u * n;
        for (let j = 0; j < n; j++) acc[j] += w * t[base + j];
      });
      const seen = this.seen[u];
      const ranked = topK(acc, k, (i) => seen.has(i)).map((s) => s.item);
      const rel = this.truth.get(user)!;
      recall += recallAtK(ranked, rel, k);
      ndcg += ndcgAtK(ranked, rel, k);
    });
    return { recall: recall / this.users.length, ndcg: ndcg / this.users.length };
  }
}

/** Scores through a fitted item-item matrix with another history weighting (no refit needed). */
function reweighted(model: { weights: ItemWeights | undefined }, spec: Weighting, m: InteractionMatrix): (h: UserHistory) => Float64Array {
  const hw = fitWeighting(spec, m);
  return (h) => scoreWithWeights(model.weights!, h.items, hw.row(h.items, h.values));
}

const BINARY: Weighting = { kind: 'binary' };
const BM25: Weighting = { kind: 'bm25', k1: 1.2, b: 0.75 };
const HISTORY_WEIGHTINGS: Weighting[] = [BINARY, BM25];

/** The search space, kept small enough that `recs tune` runs in minutes on two busy cores. */
export const TUNING_GRID = {
  gfcf: { ranks: [64, 128], alphas: [0.3, 0.6, 1] },
  itemKnn: { neighbors: [100, 300, 100_000], shrinks: [0, 10, 50] },
  userKnn: { neighbors: [50, 100, 200], exponents: [1, 2] },
  rp3beta: { alphas: [0.5, 0.75], betas: [0, 0.2, 0.4], neighbors: [300] },
  ease: { lambdas: [50, 100, 200, 400] },
  ials: { factors: [32, 48, 64], regs: [10, 30, 100], alphas: [1] },
  /** Blend weights in steps of 1/20 of the total (coordinate ascent, from equal weights). */
  weightUnits: 20,
};
export type TuningGrid = typeof TUNING_GRID;

/**
 * The grid that holds only these settings (history weightings are still both tried). Tuning on it
 * must give back exactly `config` when `config` came from TUNING_GRID: the winner of each part is
 * among the candidates, and the blend search then sees the same score tables.
 */
export function gridOf(config: PicksConfig): TuningGrid {
  return {
    gfcf: { ranks: [config.gfcf.rank], alphas: [config.gfcf.alpha] },
    itemKnn: { neighbors: [...new Set([config.itemKnn.neighbors, config.scalable.itemKnn.neighbors])].sort((a, b) => a - b), shrinks: [...new Set([config.itemKnn.shrink, config.scalable.itemKnn.shrink])].sort((a, b) => a - b) },
    userKnn: { neighbors: [config.userKnn.neighbors], exponents: [config.userKnn.exponent] },
    rp3beta: { alphas: [config.rp3beta.alpha], betas: [config.rp3beta.beta], neighbors: [config.rp3beta.neighbors] },
    ease: { lambdas: [config.ease.lambda] },
    ials: { factors: [config.ials.factors], regs: [config.ials.reg], alphas: [config.ials.alpha] },
    weightUnits: TUNING_GRID.weightUnits,
  };
}

interface Trial<O> { options: O; recall: number; ndcg: number }
export interface PartSearch<O> { chosen: O; trials: Trial<O>[] }

export interface TuneResult {
  config: PicksConfig;
  parts: { [P in PartName]: PartSearch<PicksConfig[P]> };
  blend: { recall: number; ndcg: number; steps: { weights: Record<PartName, number>; recall: number; ndcg: number }[] };
  scalable: { recall: number; ndcg: number; steps: { weights: Record<ScalablePartName, number>; recall: number; ndcg: number }[] };
  validation: { users: number; fitRows: number; heldOutRows: number };
  ms: number;
}

export interface TuneOptions {
  k?: number;
  grid?: TuningGrid;
  seed?: number;
  fraction?: number;
  /** A line per finished step (the CLI prints it as it goes). */
  onProgress?: (line: string) => void;
}

/** Item-kNN neighbour lists at least this long count as unbounded (not for the scalable blend). */
const MAX_SCALABLE_NEIGHBORS = 1000;

const better = (a: { recall: number; ndcg: number }, b: { recall: number; ndcg: number } | undefined) => !b || a.recall > b.recall || (a.recall === b.recall && a.ndcg > b.ndcg);

/**
 * Tune every part of personal picks on its own (by Recall@k, NDCG@k breaking ties), then the blend
 * weights over the chosen parts. Deterministic: the same rows give the same settings.
 */
export function tunePersonalPicks(rows: readonly Interaction[], opts: TuneOptions = {}): TuneResult {
  const t0 = performance.now();
  const k = opts.k ?? 20;
  const grid = opts.grid ?? TUNING_GRID;
  const log = opts.onProgress ?? (() => undefined);
  const vs = new ValidationSet(rows, opts.fraction ?? VALIDATION_FRACTION, opts.seed ?? VALIDATION_SEED);
  const m = vs.fit;
  const tables = {} as Record<PartName, Float64Array>;

  // Each candidate is measured as a score table; only the best table of each part is kept.
  // The best item-kNN with bounded neighbour lists, for the scalable blend.
  let bounded: { trial: Trial<PicksConfig['itemKnn']>; table: Float64Array } | undefined;
  function search<P extends PartName, O extends PicksConfig[P]>(part: P, candidates: Iterable<{ options: O; score: () => (h: UserHistory) => Float64Array }>): PartSearch<O> {
    const trials: Trial<O>[] = [];
    let best: Trial<O> | undefined;
    for (const c of candidates) {
      const t = vs.table(c.score());
      const r = vs.measure([t], [1], k);
      const trial = { options: c.options, ...r };
      trials.push(trial);
      log(`  ${partName(part, c.options).padEnd(56)} Recall@${k} ${r.recall.toFixed(4)}  NDCG@${k} ${r.ndcg.toFixed(4)}`);
      if (better(trial, best)) { best = trial; tables[part] = t; }
      if (part === 'itemKnn') {
        const o = c.options as PicksConfig['itemKnn'];
        if (o.neighbors < MAX_SCALABLE_NEIGHBORS && better(trial, bounded?.trial)) bounded = { trial: trial as Trial<PicksConfig['itemKnn']>, table: t };
      }
    }
    return { chosen: best!.options, trials };
  }

  const gfcf = search('gfcf', (function* () {
    for (const rank of grid.gfcf.ranks) {
      const base = new GfCf({ rank, alpha: 0, iterations: 4, weighting: BINARY });
      base.fit(m);
      for (const alpha of grid.gfcf.alphas) {
        const g = base.withAlpha(alpha);
        yield { options: { rank, alpha, iterations: 4, weighting: BINARY }, score: () => (h: UserHistory) => g.score(h) };
      }
    }
  })());

  const itemKnn = search('itemKnn', (function* () {
    for (const neighbors of grid.itemKnn.neighbors) for (const shrink of grid.itemKnn.shrinks) {
      const model = new ItemKnn({ neighbors, shrink, weighting: BINARY });
      model.fit(m);
      for (const historyWeighting of HISTORY_WEIGHTINGS) yield { options: { neighbors, shrink, weighting: BINARY, historyWeighting }, score: () => reweighted(model, historyWeighting, m) };
    }
  })());

  const userKnn = search('userKnn', (function* () {
    for (const weighting of HISTORY_WEIGHTINGS) for (const neighbors of grid.userKnn.neighbors) for (const exponent of grid.userKnn.exponents) {
      const model = new UserKnn({ neighbors, exponent, shrink: 0, weighting });
      model.fit(m);
      yield { options: { neighbors, exponent, shrink: 0, weighting }, score: () => (h: UserHistory) => model.score(h) };
    }
  })());

  const rp3beta = search('rp3beta', (function* () {
    for (const alpha of grid.rp3beta.alphas) for (const beta of grid.rp3beta.betas) for (const neighbors of grid.rp3beta.neighbors) {
      const model = new Rp3beta({ alpha, beta, neighbors, weighting: BINARY });
      model.fit(m);
      for (const historyWeighting of HISTORY_WEIGHTINGS) yield { options: { alpha, beta, neighbors, weighting: BINARY, historyWeighting }, score: () => reweighted(model, historyWeighting, m) };
    }
  })());

  const ease = search('ease', (function* () {
    for (const lambda of grid.ease.lambdas) {
      const model = new Ease({ lambda, weighting: BINARY });
      model.fit(m);
      for (const historyWeighting of HISTORY_WEIGHTINGS) yield { options: { lambda, weighting: BINARY, historyWeighting }, score: () => reweighted(model, historyWeighting, m) };
    }
  })());

  const ials = search('ials', (function* () {
    for (const factors of grid.ials.factors) for (const reg of grid.ials.regs) for (const alpha of grid.ials.alphas) {
      const options = { factors, reg, alpha, iterations: 10, cgSteps: 3, weighting: BM25 };
      const model = new Ials(options);
      model.fit(m);
      yield { options, score: () => (h: UserHistory) => model.score(h) };
    }
  })());

  const blend = ascendWeights(vs, PICK_PARTS, PICK_PARTS.map((p) => tables[p]), grid.weightUnits, k, (l) => log(`  blend ${l}`));
  if (!bounded) throw new Error('the grid has no item-kNN with bounded neighbours for the scalable blend');
  const scalableTables = { itemKnn: bounded.table, userKnn: tables.userKnn, rp3beta: tables.rp3beta };
  const scalable = ascendWeights(vs, SCALABLE_PARTS, SCALABLE_PARTS.map((p) => scalableTables[p]), grid.weightUnits, k, (l) => log(`  scalable blend ${l}`));

  const config: PicksConfig = {
    gfcf: gfcf.chosen, itemKnn: itemKnn.chosen, userKnn: userKnn.chosen, rp3beta: rp3beta.chosen, ease: ease.chosen, ials: ials.chosen,
    weights: blend.weights,
    scalable: { itemKnn: bounded.trial.options, weights: scalable.weights },
  };
  return {
    config,
    parts: { gfcf, itemKnn, userKnn, rp3beta, ease, ials },
    blend,
    scalable,
    validation: { users: vs.users.length, fitRows: m.indices.length, heldOutRows: [...vs.truth.values()].reduce((s, x) => s + x.size, 0) },
    ms: performance.now() - t0,
  };
}

/**
 * Blend weights: integer units summing to `units`, moved one unit at a time from one part to another
 * while validation Recall@k improves (ties broken by NDCG@k); starts from equal weights.
 */
function ascendWeights<N extends string>(vs: ValidationSet, parts: readonly N[], tables: Float64Array[], U: number, k: number, log: (line: string) => void) {
  let units = parts.map((_, p) => Math.floor(U / parts.length) + (p < U % parts.length ? 1 : 0));
  const toWeights = (u: number[]) => Object.fromEntries(parts.map((p, i) => [p, u[i] / U])) as Record<N, number>;
  let best = vs.measure(tables, units, k);
  const steps = [{ weights: toWeights(units), ...best }];
  log(`${JSON.stringify(toWeights(units))} Recall@${k} ${best.recall.toFixed(4)}  NDCG@${k} ${best.ndcg.toFixed(4)}`);
  for (;;) {
    let move: { units: number[]; r: { recall: number; ndcg: number } } | undefined;
    for (let from = 0; from < parts.length; from++) {
      if (units[from] === 0) continue;
      for (let to = 0; to < parts.length; to++) {
        if (to === from) continue;
        const next = units.slice();
        next[from]--; next[to]++;
        const r = vs.measure(tables, next, k);
        if (better(r, move?.r ?? best)) move = { units: next, r };
      }
    }
    if (!move) break;
    units = move.units; best = move.r;
    steps.push({ weights: toWeights(units), ...best });
    log(`${JSON.stringify(toWeights(units))} Recall@${k} ${best.recall.toFixed(4)}  NDCG@${k} ${best.ndcg.toFixed(4)}`);
  }
  return { weights: toWeights(units), ...best, steps };
}

/**
 * Every eval model fitted on the validation split's training part and scored on its held-out rows,
 * through the same `evaluate` as the test figures (the numbers `recs tune` prints beside its choice).
 */
export function validateModels(rows: readonly Interaction[], models: Recommender[], k = 20, onResult?: (r: EvalResult) => void): EvalResult[] {
  const vs = new ValidationSet(rows);
  return models.map((model) => {
    const { lists: _lists, ...r } = evaluate(model, vs.fit, vs.truth, k);
    onResult?.(r);
    return r;
  });
}
