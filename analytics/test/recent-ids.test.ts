/**
 * The consumer's memory of recently inserted event ids: bounded, and what it forgets is the oldest.
 * (Its cost per id is a benchmark matter: bench/analytics.bench.ts runs past the bound.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecentIds } from '../src/consumer';

test('remembers at least the last max/2 ids and never more than max', () => {
  const max = 1000;
  const recent = new RecentIds(max);
  for (let i = 0; i < 3500; i++) {
    recent.add(`id${i}`);
    assert.ok(recent.size <= max, `size ${recent.size} over the bound after ${i + 1} ids`);
    for (let back = 0; back < Math.min(i + 1, max / 2); back += 97) assert.ok(recent.has(`id${i - back}`), `id${i - back} forgotten too early`);
  }
  assert.equal(recent.has('id0'), false, 'the oldest ids are forgotten');
  assert.equal(recent.has('id2000'), false);
  assert.equal(recent.has('id3499'), true);
});

test('adding an id it already holds neither grows it nor forgets others', () => {
  const recent = new RecentIds(10);
  for (let i = 0; i < 5; i++) recent.add(`a${i}`);
  for (let i = 0; i < 20; i++) recent.add('a4');
  assert.equal(recent.size, 5);
  for (let i = 0; i < 5; i++) assert.ok(recent.has(`a${i}`));
});

test('UUIDs (held as 128-bit keys) and other strings are told apart exactly, across generations', () => {
  const recent = new RecentIds(2000);
  const uuid = (n: number) => `0190b6b0-1111-7000-8000-${n.toString(16).padStart(12, '0')}`;
  for (let i = 0; i < 1500; i++) recent.add(uuid(i));
  for (let i = 500; i < 1500; i++) assert.ok(recent.has(uuid(i)), `${uuid(i)} remembered`);
  assert.equal(recent.has(uuid(1500)), false);
  // Differs from a held id in one word only: still a different id.
  assert.equal(recent.has('0190b6b0-1111-7000-8001-000000000005'), false);
  assert.equal(recent.has('0190b6b1-1111-7000-8000-000000000005'), false);
  // Upper case, or not a UUID: compared as the strings they are.
  assert.equal(recent.has(uuid(700).toUpperCase()), false);
  recent.add(uuid(1600).toUpperCase());
  assert.equal(recent.has(uuid(1600).toUpperCase()), true);
  assert.equal(recent.has(uuid(1600)), false);
  recent.add('not-a-uuid');
  assert.equal(recent.has('not-a-uuid'), true);
  assert.ok(recent.size <= 2000);
});
