/**
 * The consumer's row text: chTime's per-second cache and the hand-written JSONCompactEachRow lines must
 * say exactly what Date#toISOString and JSON.stringify would (escaping included).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TBeaconEnvelope } from '@platform/models';
import { ROW_TOKEN_LENGTH, RowText, assembleRows, chTime, envelopeRows, parseUuid, rowsBody, rowValues } from '../src/rows';

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

test('RowText + assembleRows: the same text as rowsBody for the rows kept, token in every row; ids, keys and times per row', () => {
  const token = 'f'.repeat(ROW_TOKEN_LENGTH);
  const envs: TBeaconEnvelope[] = [];
  for (let k = 0; k < 40; k++) {
    const events = Array.from({ length: 1 + (k % 7) * 20 }, (_, i) => ({
      v: 1,
      eventId: `aaaaaaaa-${String(k).padStart(4, '0')}-4000-8000-${String(i).padStart(12, '0')}`,
      sessionId: k % 5 === 1 ? `sess-ü-${k}` : `sess-${k}`,
      trackId: i % 2 ? 't\\1' : `t${Math.floor(i / 3)}`,
      type: ['heartbeat', 'skip', 'error', 'first_audio'][i % 4],
      ts: 1_732_600_000_000 + k * 997 + i,
      eventTime: 1_732_600_000_000 + k * 997 + i,
      positionMs: i,
      ...(i % 4 === 3 ? { startupMs: 120, bufferMs: 0 } : {}),
      rendition: i % 4 ? { codec: i % 8 ? 'aac' : 'op"us', bitrateKbps: 96 } : undefined,
      errorCode: i % 4 === 2 ? `E\n${k % 3 ? 'x' : '漢字 🎵'}` : undefined,
      edgeId: `edge-${i % 3}`,
      cmcd: i % 11 ? undefined : { sid: `s${i}\t` },
      ...(i % 5 === 4 ? { durationMs: 10_000 } : {}),
    }));
    envs.push({ v: 1, receivedAt: 1_732_600_000_500 + k * 1000, userId: k % 3 ? `u${k % 2 ? '\u2028' : ''}` : null, sessionId: 'x', events } as unknown as TBeaconEnvelope);
  }
  const texts = [new RowText(4, 64), new RowText()];
  envs.forEach((env, k) => texts[k % 2].add(env));
  const parts = texts.map((text) => ({ text, keep: new Uint32Array(text.count) }));
  const keptRows: ReturnType<typeof envelopeRows> = [];
  envs.forEach((env, k) => {
    const part = parts[k % 2];
    const first = envs.slice(0, k).filter((_, j) => j % 2 === k % 2).reduce((n, e) => n + e.events.length, 0);
    envelopeRows(env).forEach((row, i) => {
      if ((k + i) % 3 === 0) return; // dropped (a duplicate)
      part.keep[first + i] = 2;
      keptRows.push(row);
    });
  });
  // assembleRows keeps the parts' order: rows of part 0, then part 1.
  const ordered = [...keptRows.filter((r) => envs.indexOf(envs.find((e) => e.events.some((x) => x.eventId === r.eventId))!) % 2 === 0), ...keptRows.filter((r) => envs.indexOf(envs.find((e) => e.events.some((x) => x.eventId === r.eventId))!) % 2 === 1)];
  assert.equal(assembleRows(parts, 2, token).toString('utf8'), rowsBody(ordered, token).toString('utf8'));
  assert.equal(assembleRows(parts, 3, token).length, 0);
  // Per row: the id back from the text, its key, its times.
  const key = new Int32Array(4);
  envs.forEach((env, k) => {
    const text = texts[k % 2];
    const first = envs.slice(0, k).filter((_, j) => j % 2 === k % 2).reduce((n, e) => n + e.events.length, 0);
    env.events.forEach((e, i) => {
      assert.equal(text.id(first + i), e.eventId);
      assert.ok(parseUuid(e.eventId, key, 0));
      assert.deepEqual([...text.keys.subarray((first + i) * 4, (first + i) * 4 + 4)], [...key]);
      assert.equal(text.eventTimes[first + i], e.eventTime);
      assert.equal(text.receivedAts[first + i], env.receivedAt);
    });
  });
  assert.throws(() => assembleRows(parts, 2, 'short'), /40 ASCII/);
  // An envelope with one id that is not a lower-case UUID is refused whole, and leaves the text as it was.
  const before = texts[0].count;
  const used = texts[0].used;
  assert.equal(texts[0].add({ ...envs[0], events: [envs[0].events[0], { ...envs[0].events[0], eventId: 'AAAAAAAA-0000-4000-8000-000000000000' }] }), false);
  assert.equal(texts[0].add({ ...envs[0], events: [{ ...envs[0].events[0], eventId: 42 as unknown as string }] }), false);
  assert.equal(texts[0].count, before);
  assert.equal(texts[0].used, used);
});
