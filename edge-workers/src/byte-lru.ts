/**
 * A cache bounded by bytes, evicting in approximate LRU order with the CLOCK ("second chance") rule, on a
 * Map (which keeps insertion order): a hit only marks its slot as referenced, so the hot path costs one
 * Map lookup and one property write (a true LRU re-inserted the entry on every hit: a Map delete plus a
 * set per cached segment served). Eviction walks from the old end: a referenced slot gets its mark
 * cleared and moves to the young end (its second chance), an unreferenced one goes. O(1) amortized.
 */
export interface Sized {
  size: number;
}

interface Slot<V> {
  value: V;
  isReferenced: boolean;
}

export interface ByteLruHooks<V> {
  /** Every entry that leaves other than by being replaced with set(): evicted, deleted, deletePrefix. */
  onRemove?(key: string, value: V): void;
  /**
   * Uses of an entry the cache did not see through get() (another reader of the same objects, such as
   * the edge's native hit path): true counts as referenced for the second chance, and should reset it.
   */
  wasUsed?(value: V): boolean;
}

export class ByteLru<V extends Sized> {
  private readonly map = new Map<string, Slot<V>>();
  private used = 0;

  constructor(
    readonly maxBytes: number,
    private readonly onEvict?: (key: string, value: V) => void,
    private readonly hooks: ByteLruHooks<V> = {},
  ) {}

  get bytes(): number {
    return this.used;
  }
  get count(): number {
    return this.map.size;
  }

  get(key: string): V | undefined {
    const slot = this.map.get(key);
    if (slot === undefined) return undefined;
    slot.isReferenced = true;
    return slot.value;
  }

  /** Look without marking it used (prefetch checks, metrics). */
  peek(key: string): V | undefined {
    return this.map.get(key)?.value;
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  /** false when the value alone is larger than the whole budget (it is then not kept). */
  set(key: string, value: V): boolean {
    const old = this.map.get(key);
    if (old !== undefined) {
      this.map.delete(key);
      this.used -= old.value.size;
    }
    if (value.size > this.maxBytes) return false;
    this.map.set(key, { value, isReferenced: false });
    this.used += value.size;
    while (this.used > this.maxBytes) {
      const oldest = this.map.entries().next();
      if (oldest.done) break;
      const [k, slot] = oldest.value;
      this.map.delete(k);
      if (slot.isReferenced || k === key || this.hooks.wasUsed?.(slot.value)) {
        // Second chance: used since the hand last passed, so it moves to the young end unmarked (and the
        // entry being stored is never its own victim).
        slot.isReferenced = false;
        this.map.set(k, slot);
        continue;
      }
      this.used -= slot.value.size;
      this.onEvict?.(k, slot.value);
      this.hooks.onRemove?.(k, slot.value);
    }
    return true;
  }

  /** Delete every entry whose key starts with `prefix` and passes `when`; returns how many went. O(entries). */
  deletePrefix(prefix: string, when: (key: string, value: V) => boolean = () => true): number {
    let n = 0;
    for (const [k, slot] of this.map) {
      if (k.startsWith(prefix) && when(k, slot.value)) {
        this.map.delete(k);
        this.used -= slot.value.size;
        this.hooks.onRemove?.(k, slot.value);
        n++;
      }
    }
    return n;
  }

  delete(key: string): boolean {
    const slot = this.map.get(key);
    if (slot === undefined) return false;
    this.map.delete(key);
    this.used -= slot.value.size;
    this.hooks.onRemove?.(key, slot.value);
    return true;
  }
}
