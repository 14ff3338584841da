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

/** Personal picks: the model the API serves. */
export function createPersonalPicks(): Blend {
  return blendPersonalPicks(createPersonalPicksParts());
}

/**
 * Every model `recs eval` reports: the README's references first (most popular, binary cosine
 * item-kNN, EASE lambda 200), then each part of personal picks, then personal picks itself (last),
 * reusing the parts fitted just before it.
 */
export function createEvalModels(): Recommender[] {
  const parts = createPersonalPicksParts();
  return [
    new MostPopular(),
    new ItemKnn({ neighbors: 100_000, shrink: 0, weighting: { kind: 'binary' } }, 'item-knn (cosine, binary)'),
    new Ease({ lambda: 200, weighting: { kind: 'binary' } }, 'ease (lambda 200, binary)'),
    ...Object.values(parts),
    blendPersonalPicks(parts, false),
  ];
}
