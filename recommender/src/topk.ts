/** Top-k selection over a dense score vector with a min-heap: O(n log k), no full sort. */

export interface Scored {
  item: number;
  score: number;
}

/**
 * The k best items by score, best first. `exclude` marks items never returned (already seen);
 * -Infinity / NaN scores are skipped. Ties break on the lower index so results are deterministic.
 */
export function topK(scores: Float64Array, k: number, exclude?: (item: number) => boolean): Scored[] {
  const hi = new Int32Array(k);
  const hs = new Float64Array(k);
  let size = 0;
  const worse = (sa: number, ia: number, sb: number, ib: number) => sa < sb || (sa === sb && ia > ib);
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i];
    if (!(s > -Infinity)) continue;
    if (size === k && !worse(hs[0], hi[0], s, i)) continue;
    if (exclude && exclude(i)) continue;
    if (size < k) {
      // sift up
      let c = size++;
      while (c > 0) {
        const p = (c - 1) >> 1;
        if (!worse(s, i, hs[p], hi[p])) break;
        hs[c] = hs[p]; hi[c] = hi[p]; c = p;
      }
      hs[c] = s; hi[c] = i;
    } else {
      // replace root, sift down
      let c = 0;
      for (;;) {
        const l = 2 * c + 1;
        if (l >= size) break;
        const r = l + 1;
        const m = r < size && worse(hs[r], hi[r], hs[l], hi[l]) ? r : l;
        if (!worse(hs[m], hi[m], s, i)) break;
        hs[c] = hs[m]; hi[c] = hi[m]; c = m;
      }
      hs[c] = s; hi[c] = i;
    }
  }
  const out: Scored[] = [];
  for (let j = 0; j < size; j++) out.push({ item: hi[j], score: hs[j] });
  out.sort((a, b) => b.score - a.score || a.item - b.item);
  return out;
}
