/** Cache and session store: Redis on REDIS_URL, else an in-process LRU with TTL (same semantics). */
import type { Config } from '@platform/config';
import { MemoryCache, type MemoryCachePersistence } from './memory-cache';
import { RedisCache } from './redis-cache';
import type { Cache } from './types';

export * from './types';
export { MemoryCache, WrongTypeError, type MemoryCachePersistence } from './memory-cache';
export { RedisCache } from './redis-cache';
export { GenerationalMap } from './generational';

export async function createCache(config: Pick<Config, 'REDIS_URL'>, opts: { keyPrefix?: string; maxEntries?: number; persist?: MemoryCachePersistence } = {}): Promise<Cache> {
  if (config.REDIS_URL) return new RedisCache(config.REDIS_URL, { keyPrefix: opts.keyPrefix }).connect();
  return new MemoryCache({ maxEntries: opts.maxEntries, persist: opts.persist });
}
