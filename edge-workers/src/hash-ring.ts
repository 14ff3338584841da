/**
 * Consistent hashing over the configured parent edges: each key has one parent, and adding or
 * removing a parent moves only about 1/N of the keys (virtual nodes smooth the spread), so parents'
 * caches stay warm while the tier changes.
 */
import { createHash } from 'node:crypto';

function hash32(text: string): number {
  return createHash('sha1').update(text).digest().readUInt32BE(0);
}

export class HashRing {
  private readonly points: { at: number; node: string }[] = [];

  constructor(
    readonly nodes: readonly string[],
    vnodes = 64,
  ) {
    for (const node of nodes) for (let i = 0; i < vnodes; i++) this.points.push({ at: hash32(`${node}#${i}`), node });
    this.points.sort((a, b) => a.at - b.at);
  }

  /** The node owning key, or null for an empty ring. */
  nodeFor(key: string): string | null {
    const pts = this.points;
    if (pts.length === 0) return null;
    const h = hash32(key);
    let lo = 0;
    let hi = pts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (pts[mid].at < h) lo = mid + 1;
      else hi = mid;
    }
    return pts[lo === pts.length ? 0 : lo].node;
  }
}
