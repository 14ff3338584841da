/**
 * Cache contract: the same cases, unchanged, against the in-process LRU and a real Redis (IT_REDIS_URL).
 * Redis keys get a prefix unique to this run. Expiry is checked by polling up to a generous deadline,
 * never by asserting how long something took.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { MemoryCache, RedisCache, type Cache } from '../src/index';

function requireEnv(name: string): string {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set: this contract test needs the real service. Run \`npm test\` (it starts infra/local), or \`bash infra/local/up.sh && source .infra/env\` first.`);
  }
  return v;
}

async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const run = `contract:${Date.now().toString(36)}:${randomBytes(3).toString('hex')}:`;

const implementations: [string, () => Promise<Cache>][] = [
  ['memory', async () => new MemoryCache()],
  ['redis', async () => new RedisCache(requireEnv('IT_REDIS_URL'), { keyPrefix: run }).connect()],
];

for (const [name, make] of implementations) {
  describe(`Cache contract: ${name}`, () => {
    let cache: Cache;
    before(async () => {
      cache = await make();
    });
    after(async () => {
      if (cache instanceof RedisCache) {
        const keys = await cache.client.keys(`${run}*`);
        if (keys.length) await cache.client.del(...keys.map((k) => k.slice(run.length)));
      }
      await cache?.close();
    });

    test('ping answers', async () => {
      await cache.ping();
    });

    test('get/set/del', async () => {
      assert.equal(await cache.get('s:missing'), null);
      await cache.set('s:a', 'one');
      assert.equal(await cache.get('s:a'), 'one');
      await cache.set('s:a', 'two');
      assert.equal(await cache.get('s:a'), 'two');
      await cache.set('s:b', 'x');
      assert.equal(await cache.del('s:a', 's:b', 's:never'), 2);
      assert.equal(await cache.get('s:a'), null);
      assert.equal(await cache.del(), 0);
    });

    test('a value set with a TTL expires; a plain set clears an earlier TTL', async () => {
      await cache.set('ttl:a', 'v', 300);
      assert.equal(await cache.get('ttl:a'), 'v');
      await eventually('expiry of ttl:a', async () => (await cache.get('ttl:a')) === null);
      await cache.set('ttl:b', 'v', 300);
      await cache.set('ttl:b', 'forever');
      await new Promise((r) => setTimeout(r, 600));
      assert.equal(await cache.get('ttl:b'), 'forever');
    });

    test('setIfAbsent sets once', async () => {
      assert.equal(await cache.setIfAbsent('nx:a', 'first', 60_000), true);
      assert.equal(await cache.setIfAbsent('nx:a', 'second', 60_000), false);
      assert.equal(await cache.get('nx:a'), 'first');
      assert.equal(await cache.setIfAbsent('nx:b', 'short', 200), true);
      await eventually('expiry of nx:b', async () => (await cache.get('nx:b')) === null);
      assert.equal(await cache.setIfAbsent('nx:b', 'again'), true);
    });

    test('expire slides the TTL of an existing key and says false for a missing one', async () => {
      await cache.set('exp:a', 'v');
      assert.equal(await cache.expire('exp:a', 200), true);
      await eventually('expiry of exp:a', async () => (await cache.get('exp:a')) === null);
      assert.equal(await cache.expire('exp:missing', 1000), false);
      await cache.set('exp:b', 'v', 300);
      assert.equal(await cache.expire('exp:b', 60_000), true);
      await new Promise((r) => setTimeout(r, 600));
      assert.equal(await cache.get('exp:b'), 'v');
    });

    test('incr counts atomically from 1 and keeps the TTL set at creation (fixed window)', async () => {
      assert.equal(await cache.incr('n:a'), 1);
      assert.equal(await cache.incr('n:a'), 2);
      assert.equal(await cache.get('n:a'), '2');
      const all = await Promise.all(Array.from({ length: 20 }, () => cache.incr('n:b', 60_000)));
      assert.deepEqual([...all].sort((x, y) => x - y), Array.from({ length: 20 }, (_, i) => i + 1));
      assert.equal(await cache.incr('n:w', 400), 1);
      assert.equal(await cache.incr('n:w', 400), 2);
      // Later increments do not extend the window: the key still expires.
      await eventually('expiry of the window n:w', async () => (await cache.get('n:w')) === null);
      assert.equal(await cache.incr('n:w', 400), 1);
    });

    test('incr of a non-integer value fails', async () => {
      await cache.set('n:text', 'abc');
      await assert.rejects(() => cache.incr('n:text'));
      assert.equal(await cache.get('n:text'), 'abc');
    });

    test('sets: sadd/smembers/srem; an emptied set is gone', async () => {
      assert.deepEqual(await cache.smembers('set:a'), []);
      await cache.sadd('set:a', 'x', 'y');
      await cache.sadd('set:a', 'y', 'z');
      assert.deepEqual((await cache.smembers('set:a')).sort(), ['x', 'y', 'z']);
      await cache.srem('set:a', 'x', 'nope');
      assert.deepEqual((await cache.smembers('set:a')).sort(), ['y', 'z']);
      await cache.srem('set:a', 'y', 'z');
      assert.deepEqual(await cache.smembers('set:a'), []);
      assert.equal(await cache.del('set:a'), 0);
    });

    test('a set expires with expire()', async () => {
      await cache.sadd('set:ttl', 'session-1');
      assert.equal(await cache.expire('set:ttl', 200), true);
      await eventually('expiry of set:ttl', async () => (await cache.smembers('set:ttl')).length === 0);
    });

    test('string commands on a set (and the reverse) are type errors', async () => {
      await cache.sadd('type:set', 'm');
      await assert.rejects(() => cache.get('type:set'));
      await cache.set('type:str', 'v');
      await assert.rejects(() => cache.sadd('type:str', 'm'));
    });
  });
}
