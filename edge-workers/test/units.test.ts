/** Pure pieces of the edge: the parent ring, segment successors, CMCD parsing. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HashRing, nextSegmentKeys, parseCmcdList, readCmcd } from '@platform/edge-workers';

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
