/** Pure pieces of the edge: the parent ring, segment successors, CMCD parsing, the byte-bounded cache, purge tombstones. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ByteLru, HashRing, PurgeList, nextSegmentKeys, parseCmcdList, readCmcd } from '@platform/edge-workers';

test('HashRing: stable, spread, and removing a node moves only its keys', () => {
  const nodes = ['http://e1:8081', 'http://e2:8081', 'http://e3:8081', 'http://e4:8081'];
  const ring = new HashRing(nodes);
  const keys = Array.from({ length: 4000 }, (_, i) => `tracks/t${i % 97}/v1/aac_128/${i}.m4s`);
  const owner = new Map(keys.map((k) => [k, ring.nodeFor(k)!]));
  assert.deepEqual(keys.map((k) => new HashRing(nodes).nodeFor(k)), keys.map((k) => owner.get(k)), 'same answer from a new ring');
  const counts = new Map<string, number>();
  for (const o of owner.values()) counts.set(o, (counts.get(o) ?? 0) + 1);
  for (const n of nodes) assert.ok((counts.get(n) ?? 0) > 4000 / 4 / 2, `${n} owns a fair share (${counts.get(n)})`);
  const smaller = new HashRing(nodes.filter((n) => n !== 'http://e3:8081'));
  for (const k of keys) if (owner.get(k) !== 'http://e3:8081') assert.equal(smaller.nodeFor(k), owner.get(k), 'other keys stay put');
  assert.equal(new HashRing([]).nodeFor('x'), null);
});

test('nextSegmentKeys: the packager naming and common others, padding kept, no successor for init/manifests', () => {
  assert.deepEqual(nextSegmentKeys('tracks/a/v1/aac_128/7.m4s', 2), ['tracks/a/v1/aac_128/8.m4s', 'tracks/a/v1/aac_128/9.m4s']);
  assert.deepEqual(nextSegmentKeys('tracks/a/v1/mp3_128/segment_0009.ts', 2), ['tracks/a/v1/mp3_128/segment_0010.ts', 'tracks/a/v1/mp3_128/segment_0011.ts']);
  assert.deepEqual(nextSegmentKeys('tracks/a/v1/aac_128/init.mp4', 2), []);
  assert.deepEqual(nextSegmentKeys('tracks/a/v1/aac_128/playlist.m3u8', 2), []);
  assert.deepEqual(nextSegmentKeys('tracks/a/v1/aac_128/7.m4s', 0), []);
});

test('CMCD: tokens, strings, numbers, booleans; query and headers', () => {
  assert.deepEqual(parseCmcdList('br=3200,bs,d=4004,mtp=25400,ot=v,rtp=15000,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",tb=6000'), {
    br: 3200, bs: true, d: 4004, mtp: 25400, ot: 'v', rtp: 15000, sid: '6e2fb550-c457-11e9-bb97-0800200c9a66', tb: 6000,
  });
  assert.deepEqual(parseCmcdList('cid="a,b",nor="..%2F2.m4s"'), { cid: 'a,b', nor: '..%2F2.m4s' });
  assert.deepEqual(parseCmcdList('=1,bad key=2,ok=3'), { ok: 3 });
  assert.deepEqual(readCmcd(`foo=1&CMCD=${encodeURIComponent('br=128,ot=a')}`, { 'cmcd-session': 'sid="x"' }), { br: 128, ot: 'a', sid: 'x' });
  assert.equal(readCmcd('', {}), null);
});

test('ByteLru: bounded by bytes; a hit since the last sweep saves an entry once (second chance); prefix delete', () => {
  const evicted: string[] = [];
  const lru = new ByteLru<{ size: number }>(300, (k) => evicted.push(k));
  for (const k of ['a', 'b', 'c']) lru.set(k, { size: 100 });
  assert.equal(lru.bytes, 300);
  lru.get('a');
  lru.set('d', { size: 100 });
  assert.deepEqual(evicted, ['b'], 'a was used: b, the oldest unused, goes');
  lru.set('e', { size: 100 });
  assert.deepEqual(evicted, ['b', 'c']);
  // a's second chance moved it behind d (CLOCK approximates LRU), so d goes next, then a.
  lru.set('f', { size: 100 });
  assert.deepEqual(evicted, ['b', 'c', 'd']);
  lru.set('d2', { size: 100 });
  assert.deepEqual(evicted, ['b', 'c', 'd', 'a'], 'a spent its second chance');
  assert.equal(lru.set('huge', { size: 301 }), false, 'larger than the budget: not kept');
  assert.equal(lru.has('huge'), false);
  assert.equal(lru.bytes, 300);
  assert.equal(lru.count, 3);
  // Every entry used: the sweep clears the marks and still makes room.
  for (const k of ['e', 'f', 'd2']) lru.get(k);
  lru.set('g', { size: 200 });
  assert.equal(lru.bytes, 300);
  assert.ok(lru.has('g'));
  const purge = new ByteLru<{ size: number }>(1000);
  for (const k of ['tracks/x/v1/a', 'tracks/x/v2/a', 'tracks/y/v1/a']) purge.set(k, { size: 10 });
  assert.equal(purge.deletePrefix('tracks/x/v', (k) => k.startsWith('tracks/x/v1/')), 1);
  assert.deepEqual(['tracks/x/v1/a', 'tracks/x/v2/a', 'tracks/y/v1/a'].map((k) => purge.has(k)), [false, true, true]);
  assert.equal(purge.bytes, 20);
});

test('PurgeList: every version or those below one; expires with the grants; old purges ignored', () => {
  const ttl = 60_000;
  const list = new PurgeList(ttl);
  const now = 1_000_000;
  assert.equal(list.add({ trackId: 't1' }, now, now), true);
  assert.equal(list.isPurged('t1', 7, now), true);
  assert.equal(list.add({ trackId: 't2', beforeVersion: 3 }, now, now), true);
  assert.deepEqual([1, 2, 3, 4].map((v) => list.isPurged('t2', v, now)), [true, true, false, false]);
  list.add({ trackId: 't2', beforeVersion: 2 }, now, now);
  assert.equal(list.isPurged('t2', 2, now), true, 'a later, narrower purge does not bring v2 back');
  assert.equal(list.isPurged('t3', 1, now), false);
  assert.equal(list.isPurged('t1', 1, now + ttl), false, 'no grant can be valid after the TTL: tombstone dropped');
  assert.equal(list.add({ trackId: 't4' }, now - ttl - 1, now), false, 'a replayed purge older than any grant is skipped');
  assert.equal(list.isPurged('t4', 1, now), false);
});
