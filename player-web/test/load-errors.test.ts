import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadFailureText } from '../app/player/load-errors';

test('a purged version (410) tells the listener it was replaced or removed, not to check the connection', () => {
  assert.match(loadFailureText(410), /replaced or removed/);
  assert.doesNotMatch(loadFailureText(410), /connection/);
  assert.match(loadFailureText(403), /link expired/);
  assert.match(loadFailureText(401), /link expired/);
  assert.match(loadFailureText(0), /check your connection/i);
  assert.match(loadFailureText(502, ' (DASH)'), /could not be loaded \(DASH\)/);
});
