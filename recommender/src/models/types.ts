/** The one interface every model (hot now, similar, personal picks, cold start, blends) implements. */
import type { InteractionMatrix } from '../matrix';
import type { Scored } from '../topk';

/** A user's known interactions: item indices (ascending) and raw strengths (summed signal weights). */
export interface UserHistory {
  items: Int32Array;
  values: Float64Array;
}

export interface Recommender {
  readonly name: string;
  fit(m: InteractionMatrix): void;
  /** A score for every item (length nItems); higher is better. Works for histories unseen at fit time. */
  score(history: UserHistory): Float64Array;
  /** Items most like `item` (never itself). */
  similar(item: number, k: number): Scored[];
}

export function historyOf(m: InteractionMatrix, user: number): UserHistory {
  const a = m.indptr[user], b = m.indptr[user + 1];
  return { items: m.indices.subarray(a, b), values: m.values.subarray(a, b) };
}
