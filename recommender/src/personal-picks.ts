/**
 * The model configurations the platform ships. Personal picks is a blend of five item scorers that
 * make different mistakes: a graph filter with a low-rank (global taste) term, item- and user-kNN
 * weighted by how much each listener plays each item (BM25), RP3beta's popularity-damped walk and
 * EASE^R's regression. On the Last.fm split it beats each of its parts (recommender/README.md).
 */
import { Blend } from './models/blend';
import { Ease } from './models/ease';
import { GfCf } from './models/gf-cf';
import { ItemKnn } from './models/item-knn';
import { MostPopular } from './models/most-popular';
import { Rp3beta } from './models/rp3beta';
import { UserKnn } from './models/user-knn';
import type { Recommender } from './models/types';
import type { Weighting } from './weighting';

const PLAYS_BM25: Weighting = { kind: 'bm25', k1: 1.2, b: 0.75 };

export function createPersonalPicksParts() {
  return {
    gfcf: new GfCf({ rank: 256, alpha: 0.3, iterations: 4, weighting: { kind: 'binary' } }, 'gf-cf (rank 256)'),
    itemKnn: new ItemKnn({ neighbors: 100_000, shrink: 10, weighting: { kind: 'binary' }, historyWeighting: PLAYS_BM25 }, 'item-knn (shrink 10, BM25 history)'),
    userKnn: new UserKnn({ neighbors: 100, exponent: 2, shrink: 0, weighting: PLAYS_BM25 }, 'user-knn (BM25)'),
    rp3beta: new Rp3beta({ alpha: 0.5, beta: 0.2, neighbors: 300, weighting: { kind: 'binary' }, historyWeighting: PLAYS_BM25 }, 'rp3beta (BM25 history)'),
    ease: new Ease({ lambda: 200, weighting: { kind: 'binary' }, historyWeighting: PLAYS_BM25 }, 'ease (lambda 200, BM25 history)'),
  };
}

export const PERSONAL_PICKS_WEIGHTS = { gfcf: 0.3, itemKnn: 0.2, userKnn: 0.2, rp3beta: 0.15, ease: 0.15 } as const;

export function blendPersonalPicks(parts: ReturnType<typeof createPersonalPicksParts>, fitsParts = true): Blend {
  return new Blend(
    fitsParts ? 'personal picks (blend)' : 'personal picks (blend of the 5 above)',
    (Object.keys(PERSONAL_PICKS_WEIGHTS) as (keyof typeof PERSONAL_PICKS_WEIGHTS)[]).map((k) => ({ model: parts[k], weight: PERSONAL_PICKS_WEIGHTS[k] })),
    fitsParts,
  );
}

/**
 * The sparse blend for catalogs and audiences where the dense parts (GF-CF's n x n filter and
 * low-rank scoring, EASE's inverse) cost too much: item-kNN, user-kNN and RP3beta only, each with
 * bounded neighbour lists. On Last.fm it gives up about 0.006 Recall@20 to the full blend.
 */
export function createScalablePicksParts() {
  return {
    itemKnn: new ItemKnn({ neighbors: 200, shrink: 10, weighting: { kind: 'binary' }, historyWeighting: PLAYS_BM25 }, 'item-knn (200 nn, shrink 10, BM25 history)'),
    userKnn: new UserKnn({ neighbors: 100, exponent: 2, shrink: 0, weighting: PLAYS_BM25 }, 'user-knn (BM25)'),
    rp3beta: new Rp3beta({ alpha: 0.5, beta: 0.2, neighbors: 300, weighting: { kind: 'binary' }, historyWeighting: PLAYS_BM25 }, 'rp3beta (BM25 history)'),
  };
}

export const SCALABLE_PICKS_WEIGHTS = { itemKnn: 0.4, userKnn: 0.3, rp3beta: 0.3 } as const;

export function blendScalablePicks(parts: ReturnType<typeof createScalablePicksParts>, fitsParts = true): Blend {
  return new Blend(
    fitsParts ? 'personal picks, scalable (blend)' : 'personal picks, scalable (blend of the 3 above)',
    (Object.keys(SCALABLE_PICKS_WEIGHTS) as (keyof typeof SCALABLE_PICKS_WEIGHTS)[]).map((k) => ({ model: parts[k], weight: SCALABLE_PICKS_WEIGHTS[k] })),
    fitsParts,
  );
}

/**
 * Which blend to train for a data set of this size. The full blend's dense work grows with
 * nItems^3 (EASE) and nUsers * nItems * rank (GF-CF scoring every listener); past the bound the
 * scalable blend keeps a training run within a minute on two cores.
 */
export function isFullBlendAffordable(nUsers: number, nItems: number): boolean {
  return nItems <= 6000 && nUsers * nItems <= 2e7;
}

/** Personal picks as the API serves it, for a data set of this size; `itemKnn` also explains picks. */
export function createPersonalPicks(nUsers = 0, nItems = 0): { model: Blend; itemKnn: ItemKnn } {
  if (isFullBlendAffordable(nUsers, nItems)) {
    const parts = createPersonalPicksParts();
    return { model: blendPersonalPicks(parts), itemKnn: parts.itemKnn };
  }
  const parts = createScalablePicksParts();
  return { model: blendScalablePicks(parts), itemKnn: parts.itemKnn };
}

/**
 * Every model `recs eval` reports: the README's references first (most popular, binary cosine
 * item-kNN, EASE lambda 200), then the scalable blend and its parts, then each part of personal
 * picks and personal picks itself (last: the model served at this data size), each blend reusing
 * the parts fitted just before it.
 */
export function createEvalModels(): Recommender[] {
  const scalable = createScalablePicksParts();
  const parts = createPersonalPicksParts();
  return [
    new MostPopular(),
    new ItemKnn({ neighbors: 100_000, shrink: 0, weighting: { kind: 'binary' } }, 'item-knn (cosine, binary)'),
    new Ease({ lambda: 200, weighting: { kind: 'binary' } }, 'ease (lambda 200, binary)'),
    ...Object.values(scalable),
    blendScalablePicks(scalable, false),
    ...Object.values(parts),
    blendPersonalPicks(parts, false),
  ];
}
