/**
 * The model configurations the platform ships. Personal picks blends scorers that make different
 * mistakes: implicit ALS (global taste factors), a graph filter with a low-rank term, user-kNN and
 * EASE^R's regression, with item-kNN and RP3beta available to the blend and to the scalable variant.
 * Which parts, their settings and their weights come from `recs tune` on a validation split of the
 * training data (tuned-picks.ts); on the Last.fm split the blend beats each of its parts
 * (recommender/README.md).
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
import type { GfCfOptions } from './models/gf-cf';
import type { ItemKnnOptions } from './models/item-knn';
import type { UserKnnOptions } from './models/user-knn';
import type { Rp3betaOptions } from './models/rp3beta';
import type { EaseOptions } from './models/ease';
import { Ials, type IalsOptions } from './models/ials';
import { TUNED_PICKS } from './tuned-picks';

/** The six parts of personal picks, in blend order. */
export const PICK_PARTS = ['gfcf', 'itemKnn', 'userKnn', 'rp3beta', 'ease', 'ials'] as const;
export type PartName = (typeof PICK_PARTS)[number];

/** Everything `recs tune` chooses: each part's options and the blend weights (summing to 1). */
export interface PicksConfig {
  gfcf: GfCfOptions;
  itemKnn: ItemKnnOptions;
  userKnn: UserKnnOptions;
  rp3beta: Rp3betaOptions;
  ease: EaseOptions;
  ials: IalsOptions;
  weights: Record<PartName, number>;
  /** The sparse blend for large data: its own bounded item-kNN, the user-kNN and RP3beta above. */
  scalable: { itemKnn: ItemKnnOptions; weights: Record<ScalablePartName, number> };
}

export const SCALABLE_PARTS = ['itemKnn', 'userKnn', 'rp3beta'] as const;
export type ScalablePartName = (typeof SCALABLE_PARTS)[number];

const weightingLabel = (w: Weighting | undefined) => (!w ? '' : w.kind === 'bm25' ? 'BM25' : w.kind === 'log' ? `log a ${w.alpha}` : 'binary');
const nn = (n: number) => (n >= 100_000 ? 'all nn' : `${n} nn`);

/** A readable name for a part with these options (what eval and tune print). */
export function partName<P extends PartName>(part: P, o: PicksConfig[P]): string {
  switch (part) {
    case 'gfcf': { const g = o as GfCfOptions; return `gf-cf (rank ${g.rank}, alpha ${g.alpha})`; }
    case 'itemKnn': { const c = o as ItemKnnOptions; return `item-knn (${nn(c.neighbors)}, shrink ${c.shrink}, ${weightingLabel(c.historyWeighting ?? c.weighting)} history)`; }
    case 'userKnn': { const c = o as UserKnnOptions; return `user-knn (${nn(c.neighbors)}, exponent ${c.exponent}, ${weightingLabel(c.weighting)})`; }
    case 'rp3beta': { const c = o as Rp3betaOptions; return `rp3beta (a ${c.alpha} b ${c.beta}, ${nn(c.neighbors)}, ${weightingLabel(c.historyWeighting ?? c.weighting)} history)`; }
    case 'ease': { const c = o as EaseOptions; return `ease (lambda ${c.lambda}, ${weightingLabel(c.historyWeighting ?? c.weighting)} history)`; }
    case 'ials': { const c = o as IalsOptions; return `ials (${c.factors} factors, reg ${c.reg}, alpha ${c.alpha}, ${weightingLabel(c.weighting)})`; }
  }
  return part;
}

export function createPersonalPicksParts(config: PicksConfig = TUNED_PICKS) {
  return {
    gfcf: new GfCf(config.gfcf, partName('gfcf', config.gfcf)),
    itemKnn: new ItemKnn(config.itemKnn, partName('itemKnn', config.itemKnn)),
    userKnn: new UserKnn(config.userKnn, partName('userKnn', config.userKnn)),
    rp3beta: new Rp3beta(config.rp3beta, partName('rp3beta', config.rp3beta)),
    ease: new Ease(config.ease, partName('ease', config.ease)),
    ials: new Ials(config.ials, partName('ials', config.ials)),
  };
}

export function blendPersonalPicks(parts: ReturnType<typeof createPersonalPicksParts>, fitsParts = true, weights: Record<PartName, number> = TUNED_PICKS.weights): Blend {
  return new Blend(
    fitsParts ? 'personal picks (blend)' : 'personal picks (blend of the parts above)',
    // A part with weight 0 adds nothing to the ranking; it is left out so training does not fit it,
    // except item-kNN, which the served artifact needs for reasons and similar tracks.
    PICK_PARTS.filter((k) => weights[k] > 0 || k === 'itemKnn').map((k) => ({ model: parts[k], weight: weights[k] })),
    fitsParts,
  );
}

/**
 * The sparse blend for catalogs and audiences where the dense parts (GF-CF's n x n filter and
 * low-rank scoring, EASE's inverse, iALS per-listener solves) cost too much: item-kNN, user-kNN and
 * RP3beta only, each with bounded neighbour lists; settings and weights also chosen by `recs tune`.
 */
export function createScalablePicksParts(config: PicksConfig = TUNED_PICKS) {
  return {
    itemKnn: new ItemKnn(config.scalable.itemKnn, partName('itemKnn', config.scalable.itemKnn)),
    userKnn: new UserKnn(config.userKnn, partName('userKnn', config.userKnn)),
    rp3beta: new Rp3beta(config.rp3beta, partName('rp3beta', config.rp3beta)),
  };
}

export function blendScalablePicks(parts: ReturnType<typeof createScalablePicksParts>, fitsParts = true, weights: Record<ScalablePartName, number> = TUNED_PICKS.scalable.weights): Blend {
  return new Blend(
    fitsParts ? 'personal picks, scalable (blend)' : 'personal picks, scalable (blend of the 3 above)',
    // item-kNN stays even at weight 0: it explains picks and gives similar tracks.
    SCALABLE_PARTS.filter((k) => weights[k] > 0 || k === 'itemKnn').map((k) => ({ model: parts[k], weight: weights[k] })),
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
export function createEvalModels(config: PicksConfig = TUNED_PICKS): Recommender[] {
  const scalable = createScalablePicksParts(config);
  const parts = createPersonalPicksParts(config);
  return [
    new MostPopular(),
    new ItemKnn({ neighbors: 100_000, shrink: 0, weighting: { kind: 'binary' } }, 'item-knn (cosine, binary)'),
    new Ease({ lambda: 200, weighting: { kind: 'binary' } }, 'ease (lambda 200, binary)'),
    ...Object.values(scalable),
    blendScalablePicks(scalable, false, config.scalable.weights),
    ...Object.values(parts),
    blendPersonalPicks(parts, false, config.weights),
  ];
}
