/**
 * The personal-picks settings the platform ships, as chosen by `recs tune` on the training file
 * alone (see tuning.ts and recommender/README.md). Regenerate with the command below and paste its
 * output here; test/tuning.test.ts reruns it and checks these values.
 */
import type { PicksConfig } from './personal-picks';

// chosen by: npx platform recs tune --train ../shared/datasets/lastfm-hetrec/train.tsv
// validation: 20 % of each listener's training rows (seed 20111): personal picks Recall@20 0.2596,
// NDCG@20 0.1766, scalable blend 0.2394 / 0.1615 over 1,838 listeners (recommender/README.md).
export const TUNED_PICKS: PicksConfig = {
  gfcf: { rank: 128, alpha: 0.6, iterations: 4, weighting: { kind: 'binary' } },
  itemKnn: { neighbors: 100_000, shrink: 10, weighting: { kind: 'binary' }, historyWeighting: { kind: 'bm25', k1: 1.2, b: 0.75 } },
  userKnn: { neighbors: 100, exponent: 1, shrink: 0, weighting: { kind: 'bm25', k1: 1.2, b: 0.75 } },
  rp3beta: { alpha: 0.5, beta: 0.2, neighbors: 300, weighting: { kind: 'binary' }, historyWeighting: { kind: 'bm25', k1: 1.2, b: 0.75 } },
  ease: { lambda: 100, weighting: { kind: 'binary' }, historyWeighting: { kind: 'bm25', k1: 1.2, b: 0.75 } },
  ials: { factors: 48, reg: 30, alpha: 1, iterations: 10, cgSteps: 3, weighting: { kind: 'bm25', k1: 1.2, b: 0.75 } },
  weights: { gfcf: 0.25, itemKnn: 0, userKnn: 0.1, rp3beta: 0, ease: 0.05, ials: 0.6 },
  scalable: { itemKnn: { neighbors: 300, shrink: 10, weighting: { kind: 'binary' }, historyWeighting: { kind: 'bm25', k1: 1.2, b: 0.75 } }, weights: { itemKnn: 0.4, userKnn: 0.25, rp3beta: 0.35 } },
};
