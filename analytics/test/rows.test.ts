/**
 * The consumer's row text: chTime's per-second cache and the hand-written JSONCompactEachRow lines must
 * say exactly what Date#toISOString and JSON.stringify would (escaping included).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TBeaconEnvelope } from '@platform/models';
import { chTime, envelopeRows, rowsBody, rowValues } from '../src/rows';

const iso = (ms: number) => new Date(ms).toISOString().slice(0, 23).replace('T', ' ');

test('chTime matches toISOString for edge and arbitrary instants', () => {
  for (const ms of [0, 5, 1_732_600_000_000, 1_732_600_000_007, 1_732_600_000_070, 1_732_600_000_999, 1_732_600_001_000, 4_102_444_799_999]) {
    assert.equal(chTime(ms), iso(ms), String(ms));
  }
  let seed = 7;
  for (let i = 0; i < 20_000; i++) {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    const ms = seed * 1000 + (i % 1000);
    assert.equal(chTime(ms), iso(ms));
    assert.equal(chTime(ms + 1), iso(ms + 1), 'same second, next millisecond');
  }
});

test('rowsBody writes what JSON.stringify of the row values would, with the token last', () => {
  const env = {
    v: 1,
    receivedAt: 1_732_600_000_123,
    userId: 'u"1\\',
    sessionId: 'sess-0001',
    events: [
      { v: 1, eventId: 'aaaaaaaa-0000-4000-8000-000000000000', sessionId: 'sess\n0001', trackId: 't"1', type: 'heartbeat', ts: 1, eventTime: 1_732_600_000_001, positionMs: 5, durationMs: 10_000, cmcd: { br: 128, sid: 'x"y' }, errorCode: 'x\u2028\u0001', edgeId: 'edge-1' },
      { v: 1, eventId: 'bbbbbbbb-0000-4000-8000-000000000000', sessionId: 'sess-0001', trackId: 't', type: 'first_audio', ts: 1, eventTime: 1_732_600_000_001, positionMs: 0, startupMs: 300, bufferMs: 0, rendition: { codec: 'aac', bitrateKbps: 128 } },
    ],
  } as unknown as TBeaconEnvelope;
  const rows = envelopeRows(env);
  const expected = rows.map((r) => JSON.stringify([...rowValues(r), 'token"1'])).join('\n') + '\n';
  assert.equal(rowsBody(rows, 'token"1').toString('utf8'), expected);
});

test('rowsBody: repeated and alternating values (its per-block memo of JSON text) still match JSON.stringify', () => {
  const events = Array.from({ length: 300 }, (_, i) => ({
    v: 1,
    eventId: `aaaaaaaa-0000-4000-8000-${String(i).padStart(12, '0')}`,
    sessionId: i % 7 < 3 ? 'sess"a' : `sess-${i % 5}`,
    trackId: i % 2 ? 't\\1' : `t${Math.floor(i / 3)}`,
    type: ['heartbeat', 'skip', 'error'][i % 3],
    ts: 1,
    eventTime: 1_732_600_000_001 + i,
    positionMs: i,
    rendition: i % 4 ? { codec: i % 8 ? 'aac' : 'op"us', bitrateKbps: 96 } : undefined,
    errorCode: i % 3 === 2 ? `E\n${i % 2}` : undefined,
    edgeId: `edge-${i % 3}`,
    cmcd: i % 11 ? undefined : { sid: `s${i}` },
  }));
  const rows = [
    ...envelopeRows({ v: 1, receivedAt: 1_732_600_000_123, userId: null, sessionId: 'x', events: events.slice(0, 150) } as unknown as TBeaconEnvelope),
    ...envelopeRows({ v: 1, receivedAt: 1_732_600_000_124, userId: 'u\u2028', sessionId: 'x', events: events.slice(150) } as unknown as TBeaconEnvelope),
  ];
  const expected = rows.map((r) => JSON.stringify([...rowValues(r), 'tok'])).join('\n') + '\n';
  assert.equal(rowsBody(rows, 'tok').toString('utf8'), expected);
});
