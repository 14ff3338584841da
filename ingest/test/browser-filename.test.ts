import { test } from 'node:test';
import assert from 'node:assert/strict';
import { browserFilename } from '../src/upload-route';

// Chromium and undici send `"` in a multipart filename as %22; the title came out as `quote%22`.
test('multipart filenames escaped by browsers become the names the musician gave', () => {
  // What a browser puts on the wire for that name:
  assert.equal(browserFilename('Ёлка %22Live%22 & 50%.wav'), 'Ёлка "Live" & 50%.wav');
  assert.equal(browserFilename('a%0D%0Ab.wav'), 'a  b.wav');
  assert.equal(browserFilename(undefined), '');
});
