/** Cache on Redis (ioredis). Every method is one round trip (or one MULTI), so it is safe across processes. */
import { Redis } from 'ioredis';
import type { Cache } from './types';

export class RedisCache implements Cache {
  readonly kind = 'redis' as const;
  readonly client: Redis;

  constructor(url: string, opts: { keyPrefix?: string } = {}) {
    this.client = new Redis(url, {
      keyPrefix: opts.keyPrefix,
      lazyConnect: true,
      // Fail a command after a few reconnect attempts instead of queueing forever: callers get an error
      // (and /readyz goes red) while Redis is down.
      maxRetriesPerRequest: 3,
      enableOfflineQueue: true,
    });
  }

  async connect(): Promise<this> {
    await this.client.connect();
    await this.client.ping();
    return this;
  }

  async get(key: string): Promise<string | null> {
    return this.client.get(key);
  }

  async set(key: string, value: string, ttlMs?: number): Promise<void> {
    if (ttlMs) await this.client.set(key, value, 'PX', ttlMs);
    else await this.client.set(key, value);
  }

  async setIfAbsent(key: string, value: string, ttlMs?: number): Promise<boolean> {
    const r = ttlMs ? await this.client.set(key, value, 'PX', ttlMs, 'NX') : await this.client.set(key, value, 'NX');
    return r === 'OK';
  }

  async del(...keys: string[]): Promise<number> {
    if (!keys.length) return 0;
    return this.client.del(...keys);
  }

  async expire(key: string, ttlMs: number): Promise<boolean> {
    return (await this.client.pexpire(key, ttlMs)) === 1;
  }

  async incr(key: string, ttlMs?: number): Promise<number> {
    if (!ttlMs) return this.client.incr(key);
    // SET NX PX creates the key with its TTL only when absent; INCR keeps whatever TTL the key has.
    const r = await this.client.multi().set(key, '0', 'PX', ttlMs, 'NX').incr(key).exec();
    const [, incr] = r ?? [];
    if (!incr || incr[0]) throw incr?.[0] ?? new Error('redis MULTI was aborted');
    return Number(incr[1]);
  }

  async sadd(key: string, ...members: string[]): Promise<void> {
    if (members.length) await this.client.sadd(key, ...members);
  }

  async smembers(key: string): Promise<string[]> {
    return this.client.smembers(key);
  }

  async srem(key: string, ...members: string[]): Promise<void> {
    if (members.length) await this.client.srem(key, ...members);
  }

  async ping(): Promise<void> {
    await this.client.ping();
  }

  async close(): Promise<void> {
    await this.client.quit().catch(() => this.client.disconnect());
  }
}
