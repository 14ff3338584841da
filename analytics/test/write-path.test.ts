/**
 * The consumer's write path on chDB, without a bus: a block written twice under its token lands once
 * in the raw table and once in every view, and the token does not outlive its statements (a stale
 * token on the chDB session made later inserts that named none look like repeats and vanish).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import { createLogger } from '@platform/logging';
import { createOlapClient } from '@platform/olap';
import { ensureAnalyticsSchema, envelopeRows, toEnvelopes, writeEventBlock } from '../src/index';
import { rowValues } from '../src/rows';
import { listening, scalar, sessionId, tmpDir } from './harness';

test('a block written twice lands once, and its token does not stay on the session', async () => {
  const dataDir = tmpDir('analytics-write-path');
  const olap = await createOlapClient({ CLICKHOUSE_URL: undefined, dataDir }, createLogger({ name: 'write-path', level: 'silent' }));
  try {
    await ensureAnalyticsSchema(olap);
    const events = [...listening(sessionId(), 'wp-track', { untilMs: 40_000, end: 'ended' }), ...listening(sessionId(), 'wp-track', { untilMs: 20_000, end: 'skip' })];
    const rows = toEnvelopes(events, Date.now(), null).flatMap((e) => envelopeRows(e));
    await writeEventBlock(olap, rows, 'token-a');
    await writeEventBlock(olap, rows, 'token-a'); // a retry of the same block
    assert.equal(await scalar(olap, 'SELECT count() FROM playback_events'), events.length);
    assert.equal(await scalar(olap, 'SELECT sum(events) FROM qoe_1m'), events.length, 'the views took the block once');
    assert.equal(await scalar(olap, "SELECT uniqExactMerge(plays) FROM track_plays_1m WHERE trackId = 'wp-track'"), 1);
    assert.equal(await scalar(olap, "SELECT count() FROM (SELECT getSetting('insert_deduplication_token') AS t) WHERE t != ''"), 0, 'no token left on the session');

    // Inserts that name no token (another writer, the benchmark's bulk load) are not taken for repeats.
    for (let i = 0; i < 3; i++) {
      await olap.command({
        query: `INSERT INTO playback_events (eventId, eventTime, receivedAt, clientTs, sessionId, userId, trackId, type, positionMs, codec, bitrateKbps, errorCode, edgeId, cmcd, batchToken)
          SELECT generateUUIDv4(number), now64(3), now64(3), 0, 'bulk', '', 'bulk-track', 'heartbeat', 0, '', 0, '', '', '', '' FROM numbers(10)`,
      });
    }
    assert.equal(await scalar(olap, "SELECT count() FROM playback_events WHERE trackId = 'bulk-track'"), 30);
    await assert.rejects(writeEventBlock(olap, rows, "x' OR 1"), /unexpected batch token/);
  } finally {
    await olap.close();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
});

test('free text round-trips exactly: tabs, newlines, backslashes, quotes, control and non-ASCII characters', async () => {
  const dataDir = tmpDir('analytics-write-text');
  const olap = await createOlapClient({ CLICKHOUSE_URL: undefined, dataDir }, createLogger({ name: 'write-text', level: 'silent' }));
  try {
    await ensureAnalyticsSchema(olap);
    const nasty = ['a\tb', 'line\nbreak', 'cr\rlf\r\n', 'back\\slash\\', 'q"u\'ote', '\\N', '\\t literal', 'nul\u0000x', 'ünï cødé ✓ 漢字 🎵', '\u2028\u2029', '', ' lead and trail '];
    const ts = Date.now();
    const events = nasty.map((text, i) => ({
      v: 1 as const,
      eventId: `0000000${i.toString(16)}-0000-4000-8000-${String(i).padStart(12, '0')}`,
      sessionId: `sess-text-${i}\t${text}`,
      trackId: `track\n${text}`,
      type: 'error' as const,
      ts: ts + i,
      positionMs: i,
      rendition: { codec: `c${text}`.slice(0, 32), bitrateKbps: i },
      errorCode: text,
      edgeId: `edge${text}`,
      cmcd: { sid: text, br: i },
      ...(i % 2 ? { startupMs: i, bufferMs: 0 } : {}),
    }));
    const envs = events.map((e, i) => toEnvelopes([e], ts, i % 3 === 0 ? null : `user\\${nasty[(i + 5) % nasty.length]}`)[0]);
    const rows = envs.flatMap((e) => envelopeRows(e));
    await writeEventBlock(olap, rows, 'token-text');
    const rs = await olap.query({
      query: `SELECT toString(eventId) AS eventId, toString(eventTime) AS eventTime, toString(receivedAt) AS receivedAt, toString(clientTs) AS clientTs,
          sessionId, userId, trackId, toString(type) AS type, positionMs, toString(codec) AS codec, bitrateKbps, startupMs, bufferMs, durationMs,
          toString(errorCode) AS errorCode, toString(edgeId) AS edgeId, cmcd FROM playback_events ORDER BY eventId`,
      format: 'JSONCompactEachRow',
    });
    const back = (await rs.json<unknown[]>()).map((r) => r.map((v) => (typeof v === 'number' ? String(v) : v)));
    const expected = rows.map((r) => rowValues(r).map((v) => (typeof v === 'number' ? String(v) : v)));
    assert.equal(back.length, nasty.length);
    assert.deepEqual(back, expected);
    // The views saw the same text (the stage insert reads the raw rows back).
    assert.equal(await scalar(olap, "SELECT count() FROM playback_views WHERE startsWith(trackId, 'track\\n')"), nasty.length);
  } finally {
    await olap.close();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
});
