/**
 * An LRU bounded by bytes, on a Map (which keeps insertion order): a hit re-inserts the entry at
 * the young end, eviction walks from the old end. O(1) per operation, no per-hit allocation.
 */
export interface Sized {
  size: number;
}

export class ByteLru<V extends Sized> {
  private readonly map = new Map<string, V>();
  private used = 0;

  constructor(
    readonly maxBytes: number,
    private readonly onEvict?: (key: string, value: V) => void,
  ) {}

  get bytes(): number {
    return this.used;
  }
  get count(): number {
    return this.map.size;
  }

  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  /** Look without refreshing recency (prefetch checks, metrics). */
  peek(key: string): V | undefined {
    return this.map.get(key);
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  /** false when the value alone is larger than the whole budget (it is then not kept). */
  set(key: string, value: V): boolean {
    const old = this.map.get(key);
    if (old !== undefined) {
      this.map.delete(key);
      this.used -= old.size;
    }
    if (value.size > this.maxBytes) return false;
    this.map.set(key, value);
    this.used += value.size;
    while (this.used > this.maxBytes) {
      const oldest = this.map.keys().next();
      if (oldest.done) break;
      const k = oldest.value;
      const v = this.map.get(k)!;
      this.map.delete(k);
      this.used -= v.size;
      this.onEvict?.(k, v);
    }
    return true;
  }

  /** Delete every entry whose key starts with `prefix` and passes `when`; returns how many went. O(entries). */
  deletePrefix(prefix: string, when: (key: string, value: V) => boolean = () => true): number {
    let n = 0;
    for (const [k, v] of this.map) {
      if (k.startsWith(prefix) && when(k, v)) {
        this.map.delete(k);
        this.used -= v.size;
        n++;
      }
    }
    return n;
  }

  delete(key: string): boolean {
    const v = this.map.get(key);
    if (v === undefined) return false;
    this.map.delete(key);
    this.used -= v.size;
    return true;
  }
}
