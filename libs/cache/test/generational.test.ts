import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GenerationalMap } from '../src/index';

test('GenerationalMap keeps at least the last max/2 keys, never more than max, and answers from both generations', () => {
  const m = new GenerationalMap<string, number>(10);
  for (let i = 0; i < 37; i++) {
    m.set(`k${i}`, i);
    assert.ok(m.size <= 10, `size ${m.size}`);
    for (let back = 0; back < Math.min(i + 1, 5); back++) assert.equal(m.get(`k${i - back}`), i - back);
  }
  assert.equal(m.has('k0'), false, 'the oldest keys are gone');
  m.set('k36', 99);
  assert.equal(m.get('k36'), 99, 'a set of a key the young generation holds replaces it without a rotation');
  assert.equal(m.delete('k35'), true);
  assert.equal(m.has('k35'), false);
  assert.equal(m.delete('k35'), false);
});
