/**
 * In-process cache with Redis semantics (the embedded default): strings and sets, per-key TTL, counters
 * that keep their TTL, WRONGTYPE errors when a string command meets a set. Bounded by entry count (LRU).
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { LRUCache } from 'lru-cache';
import type { Cache } from './types';

/**
 * Keys worth keeping across a restart of the embedded platform (sessions: a restart must not log
 * everybody out), written to one JSON file atomically (temp file + rename) every few seconds when
 * something changed, and on close. Redis needs none of this: it is the production store.
 */
export interface MemoryCachePersistence {
  file: string;
  keyPrefixes: string[];
  /** How often a changed cache is written; default 5 s. A crash loses at most this much. */
  intervalMs?: number;
}

interface SnapshotEntry {
  k: string;
  s?: string;
  set?: string[];
  /** epoch ms; absent: no expiry */
  exp?: number;
}

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

  private readonly persist?: MemoryCachePersistence;
  private dirty = false;
  private timer?: NodeJS.Timeout;

  constructor(opts: { maxEntries?: number; persist?: MemoryCachePersistence } = {}) {
    // ttlAutopurge off: expired entries are dropped lazily on access and by LRU pressure, no timers per key.
    this.lru = new LRUCache<string, Entry>({ max: opts.maxEntries ?? 100_000, allowStale: false });
    this.persist = opts.persist;
    if (this.persist) {
      this.load(this.persist.file);
      this.timer = setInterval(() => this.flush(), this.persist.intervalMs ?? 5000);
      this.timer.unref();
    }
  }

  private persisted(key: string): boolean {
    return this.persist?.keyPrefixes.some((p) => key.startsWith(p)) ?? false;
  }

  private touch(key: string): void {
    if (!this.dirty && this.persisted(key)) this.dirty = true;
  }

  private load(file: string): void {
    let entries: SnapshotEntry[];
    try {
      entries = JSON.parse(readFileSync(file, 'utf8')) as SnapshotEntry[];
    } catch {
      return; // first start, or an unreadable file: start empty (it holds nothing that cannot be redone)
    }
    const now = Date.now();
    for (const e of Array.isArray(entries) ? entries : []) {
      if (typeof e?.k !== 'string' || (e.exp !== undefined && e.exp <= now)) continue;
      const ttl = e.exp === undefined ? {} : { ttl: e.exp - now };
      if (typeof e.s === 'string') this.lru.set(e.k, { s: e.s }, ttl);
      else if (Array.isArray(e.set)) this.lru.set(e.k, { set: new Set(e.set.map(String)) }, ttl);
    }
  }

  /** Writes the persisted keys now if anything changed since the last write. */
  flush(): void {
    if (!this.persist || !this.dirty) return;
    this.dirty = false;
    const now = Date.now();
    const out: SnapshotEntry[] = [];
    for (const [k, e] of this.lru.entries()) {
      if (!this.persisted(k)) continue;
      const left = this.lru.getRemainingTTL(k);
      if (left <= 0) continue;
      const exp = Number.isFinite(left) ? now + left : undefined;
      out.push('s' in e ? { k, s: e.s, exp } : { k, set: [...e.set], exp });
    }
    const file = this.persist.file;
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(tmp, JSON.stringify(out), { mode: 0o600 });
      renameSync(tmp, file);
    } catch {
      this.dirty = true; // try again at the next tick
    }
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
    this.touch(key);
    // Like SET without EX/PX: a plain set clears any previous TTL.
    this.lru.delete(key);
    this.lru.set(key, { s: value }, ttlMs ? { ttl: ttlMs } : {});
  }

  async setIfAbsent(key: string, value: string, ttlMs?: number): Promise<boolean> {
    this.touch(key);
    if (this.lru.has(key)) return false;
    this.lru.set(key, { s: value }, ttlMs ? { ttl: ttlMs } : {});
    return true;
  }

  async del(...keys: string[]): Promise<number> {
    for (const k of keys) this.touch(k);
    let n = 0;
    for (const k of keys) if (this.lru.delete(k)) n++;
    return n;
  }

  async expire(key: string, ttlMs: number): Promise<boolean> {
    this.touch(key);
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
    this.touch(key);
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
    this.touch(key);
    const s = this.set_(key);
    if (s) for (const m of members) s.add(m);
    else if (members.length) this.lru.set(key, { set: new Set(members) });
  }

  async smembers(key: string): Promise<string[]> {
    return [...(this.set_(key) ?? [])];
  }

  async srem(key: string, ...members: string[]): Promise<void> {
    this.touch(key);
    const s = this.set_(key);
    if (!s) return;
    for (const m of members) s.delete(m);
    if (s.size === 0) this.lru.delete(key); // Redis removes empty sets
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.flush();
    this.lru.clear();
  }
}
