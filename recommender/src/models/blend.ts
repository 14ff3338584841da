/**
 * A weighted blend of item scorers. Each component's scores are scaled by their max over the
 * catalog for this user first, so components on different scales (EASE regression outputs, kNN
 * cosine sums) contribute in the proportion given, not in the proportion of their units.
 */
import type { InteractionMatrix } from '../matrix';
import type { Scored } from '../topk';
import type { Recommender, UserHistory } from './types';

export class Blend implements Recommender {
  constructor(
    readonly name: string,
    readonly parts: { model: Recommender; weight: number }[],
    /** False when the parts were already fitted on the same matrix (offline eval reports them first). */
    private readonly fitsParts = true,
  ) {}

  fit(m: InteractionMatrix): void {
    if (this.fitsParts) for (const p of this.parts) p.model.fit(m);
  }

  score(h: UserHistory): Float64Array {
    let out: Float64Array | undefined;
    for (const { model, weight } of this.parts) {
      // A zero-weight part is only there to be fitted (item-kNN explains picks even when it adds no score).
      if (weight === 0) continue;
      const s = model.score(h);
      let max = 0;
      for (let j = 0; j < s.length; j++) if (s[j] > max) max = s[j];
      const c = max > 0 ? weight / max : 0;
      if (!out) out = new Float64Array(s.length);
      for (let j = 0; j < s.length; j++) out[j] += c * s[j];
    }
    return out ?? new Float64Array(this.parts[0]?.model.score(h).length ?? 0);
  }

  /** Similar items from the first component that has any. */
  similar(item: number, k: number): Scored[] {
    for (const { model } of this.parts) {
      const s = model.similar(item, k);
      if (s.length) return s;
    }
    return [];
  }
}
