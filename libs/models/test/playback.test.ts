/**
 * ZPlaybackParams: a track id that is not a UUID must fail validation (the route then answers 400
 * validation_failed like the other /api/tracks/:id routes, not 404).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ZPlaybackParams } from '../src/playback';

test('playback params accept a UUID track id', () => {
  const id = '00000000-0000-4000-8000-000000000000';
  assert.deepEqual(ZPlaybackParams.parse({ id }), { id });
});

test('playback params reject ids that are not UUIDs', () => {
  for (const id of ['not-a-uuid', 'abc', '../etc', '', '00000000-0000-4000-8000-00000000000']) {
    assert.equal(ZPlaybackParams.safeParse({ id }).success, false, id);
  }
});
