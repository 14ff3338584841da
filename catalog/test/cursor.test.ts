import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isAppError } from '@platform/errors';
import { decodeCursor, encodeCursor } from '../src/cursor';

const ID = '52c2f600-4d07-4114-872f-b8f9b21a6f1d';
const rejects = (values: unknown[], kinds: Parameters<typeof decodeCursor>[1]) =>
  assert.throws(() => decodeCursor(Buffer.from(JSON.stringify(values)).toString('base64url'), kinds), (e) => isAppError(e) && e.code === 'validation_failed', JSON.stringify(values));

test('cursors this API writes decode unchanged', () => {
  for (const ts of ['2026-11-26 04:01:02.123456+00', '2026-11-26T05:13:44.000Z', '2024-02-29 23:59:59+05:30']) {
    assert.deepEqual(decodeCursor(encodeCursor([ts, ID]), ['ts', 'uuid']), [ts, ID]);
  }
  assert.deepEqual(decodeCursor(encodeCursor([0.731, ID]), ['number', 'uuid']), [0.731, ID]);
  assert.deepEqual(decodeCursor(encodeCursor([42, ID]), ['int', 'uuid']), [42, ID]);
});

// Each of these reached PostgreSQL and came back as a 500 (out-of-range timestamp or integer).
test('forged cursors with impossible values are a 400, not a database error', () => {
  for (const ts of ['2026-13-45T99:99:99Z', '0000-01-01 00:00:00', '2023-02-29 00:00:00', '2026-01-01 24:00:00', '2026-01-01 00:00:00+99']) rejects([ts, ID], ['ts', 'uuid']);
  for (const n of [1e308, 1.5, -3e10]) rejects([n, ID], ['int', 'uuid']);
});
