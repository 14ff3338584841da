/**
 * In-process cache with Redis semantics (the embedded default): strings and sets, per-key TTL, counters
 * that keep their TTL, WRONGTYPE errors when a string command meets a set. Bounded by entry count (LRU).
 */
import { LRUCache } from 'lru-cache';
import type { Cache } from './types';

type Entry = { s: string } | { set: Set<string> };

export class WrongTypeError extends Error {
  constructor(key: string) {
    super(`WRONGTYPE key "${key}" holds the wrong kind of value`);
    this.name = 'WrongTypeError';
  }
}

export class MemoryCache implements Cache {
  readonly kind = 'memory' as const;
  private readonly lru: LRUCache<string, Entry>;

  constructor(opts: { maxEntries?: number } = {}) {
    // ttlAutopurge off: expired entries are dropped lazily on access and by LRU pressure, no timers per key.
    this.lru = new LRUCache<string, Entry>({ max: opts.maxEntries ?? 100_000, allowStale: false });
  }

  private str(key: string): string | null {
    const e = this.lru.get(key);
    if (!e) return null;
    if (!('s' in e)) throw new WrongTypeError(key);
    return e.s;
  }

  private set_(key: string): Set<string> | null {
    const e = this.lru.get(key);
    if (!e) return null;
    if (!('set' in e)) throw new WrongTypeError(key);
    return e.set;
  }

  async get(key: string): Promise<string | null> {
    return this.str(key);
  }

  async set(key: string, value: string, ttlMs?: number): Promise<void> {
    // Like SET without EX/PX: a plain set clears any previous TTL.
    this.lru.delete(key);
    this.lru.set(key, { s: value }, ttlMs ? { ttl: ttlMs } : {});
  }

  async setIfAbsent(key: string, value: string, ttlMs?: number): Promise<boolean> {
    if (this.lru.has(key)) return false;
    this.lru.set(key, { s: value }, ttlMs ? { ttl: ttlMs } : {});
    return true;
  }

  async del(...keys: string[]): Promise<number> {
    let n = 0;
    for (const k of keys) if (this.lru.delete(k)) n++;
    return n;
  }

  async expire(key: string, ttlMs: number): Promise<boolean> {
    const e = this.lru.get(key);
    if (!e) return false;
    if (ttlMs <= 0) {
      this.lru.delete(key);
      return true;
    }
    this.lru.set(key, e, { ttl: ttlMs });
    return true;
  }

  async incr(key: string, ttlMs?: number): Promise<number> {
    const cur = this.str(key);
    if (cur === null) {
      this.lru.set(key, { s: '1' }, ttlMs ? { ttl: ttlMs } : {});
      return 1;
    }
    const n = Number(cur);
    if (!Number.isSafeInteger(n) || !/^-?\d+$/.test(cur)) throw new Error(`ERR value of "${key}" is not an integer`);
    // INCR keeps the key's TTL (fixed-window counters rely on it).
    this.lru.set(key, { s: String(n + 1) }, { noUpdateTTL: true });
    return n + 1;
  }

  async sadd(key: string, ...members: string[]): Promise<void> {
    const s = this.set_(key);
    if (s) for (const m of members) s.add(m);
    else if (members.length) this.lru.set(key, { set: new Set(members) });
  }

  async smembers(key: string): Promise<string[]> {
    return [...(this.set_(key) ?? [])];
  }

  async srem(key: string, ...members: string[]): Promise<void> {
    const s = this.set_(key);
    if (!s) return;
    for (const m of members) s.delete(m);
    if (s.size === 0) this.lru.delete(key); // Redis removes empty sets
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.lru.clear();
  }
}
