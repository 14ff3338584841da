import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ifRangeAllows } from '../src/index';

// The edge answered `Range: bytes=0-9` + `If-Range: "stale"` with a 206 of the current object.
test('If-Range: the range applies only to the client\'s own version of the object', () => {
  const etag = '"8523f07ddd223fec847eee922e950457"';
  const lm = 'Thu, 26 Nov 2026 05:13:44 GMT';
  assert.equal(ifRangeAllows(undefined, etag, lm), true);
  assert.equal(ifRangeAllows(etag, etag, lm), true);
  assert.equal(ifRangeAllows('"stale"', etag, lm), false);
  assert.equal(ifRangeAllows(`W/${etag}`, etag, lm), false, 'weak tags never match');
  assert.equal(ifRangeAllows(lm, etag, lm), true);
  assert.equal(ifRangeAllows('Wed, 25 Nov 2026 05:13:44 GMT', etag, lm), false);
  assert.equal(ifRangeAllows([etag, etag], etag, lm), false);
});
