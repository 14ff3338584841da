/** Cache and session store: Redis semantics shared by ioredis and the in-process LRU with TTL. */
export interface Cache {
  readonly kind: 'redis' | 'memory';
  get(key: string): Promise<string | null>;
  /** ttlMs omitted means no expiry. */
  set(key: string, value: string, ttlMs?: number): Promise<void>;
  /** Set only when absent; true when it was set. */
  setIfAbsent(key: string, value: string, ttlMs?: number): Promise<boolean>;
  del(...keys: string[]): Promise<number>;
  /** Sliding expiry. */
  expire(key: string, ttlMs: number): Promise<boolean>;
  /** Atomic counter; the TTL is set when the key is created (fixed-window rate limits). */
  incr(key: string, ttlMs?: number): Promise<number>;
  /** Set members (e.g. a user's session ids, for revocation). */
  sadd(key: string, ...members: string[]): Promise<void>;
  smembers(key: string): Promise<string[]>;
  srem(key: string, ...members: string[]): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
