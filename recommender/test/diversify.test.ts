import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diversify } from '../src/serving';

const items = (artists: string) => artists.split('').map((artistId, i) => ({ id: `${artistId}${i}`, artistId }));
const maxRun = (list: { artistId: string }[]) => {
  let best = 0;
  let run = 0;
  list.forEach((c, i) => {
    run = i > 0 && list[i - 1].artistId === c.artistId ? run + 1 : 1;
    best = Math.max(best, run);
  });
  return best;
};

test('diversify keeps every item when an order with at most N per artist in a row exists', () => {
  // A plain greedy takes B B, then A A, and is left with A A it cannot place: 4 of 6.
  const out = diversify(items('BBAAAA'), 2);
  assert.equal(out.length, 6);
  assert.ok(maxRun(out) <= 2, out.map((c) => c.artistId).join(''));
  // Four artists with five tracks each, ranked artist by artist (the serving test's catalog).
  const big = diversify(items('AAAAABBBBBCCCCCDDDDD'), 2);
  assert.equal(big.length, 20);
  assert.ok(maxRun(big) <= 2);
});

test('diversify follows the ranking where the rule allows and cuts only what cannot be placed', () => {
  assert.deepEqual(diversify(items('ABAB'), 2).map((c) => c.id), ['A0', 'B1', 'A2', 'B3']);
  assert.deepEqual(diversify(items('AAB'), 2).map((c) => c.id), ['A0', 'A1', 'B2']);
  // Five by A and one by B can hold at most 2 + 1 + 2 with the rule: the rest is cut, never broken.
  const out = diversify(items('AAAAAB'), 2);
  assert.ok(maxRun(out) <= 2);
  assert.equal(out.length, 5);
});
