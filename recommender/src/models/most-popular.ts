/** Most popular: the baseline every personal model has to beat, and the fallback for empty histories. */
import type { InteractionMatrix } from '../matrix';
import type { Scored } from '../topk';
import type { Recommender, UserHistory } from './types';

export class MostPopular implements Recommender {
  readonly name = 'most-popular';
  private pop = new Float64Array(0);

  fit(m: InteractionMatrix): void {
    this.pop = new Float64Array(m.nItems);
    for (let i = 0; i < m.nItems; i++) this.pop[i] = m.itemPtr[i + 1] - m.itemPtr[i];
  }

  score(_history: UserHistory): Float64Array {
    return Float64Array.from(this.pop);
  }

  similar(_item: number, _k: number): Scored[] {
    return [];
  }
}
