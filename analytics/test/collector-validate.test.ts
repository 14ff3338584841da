/**
 * The collector's written-out validation (fastBeaconEvent) against the schema it shortcuts
 * (ZBeaconEvent): over valid events, every single-field mutation of them, and junk, the fast path
 * accepts only what zod accepts and returns what zod returns; validateEvents gives the same answer
 * (accepted events, drop counts, first issue) as zod alone would.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BEACON_TYPES, ZBeaconEvent, type TBeaconEvent } from '@platform/models';
import { fastBeaconEvent, validateEvents } from '../src/collector';

let seed = 11;
const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];

function valid(i: number): Record<string, unknown> {
  const e: Record<string, unknown> = {
    v: 1,
    eventId: pick(['0190b6b0-1111-7000-8000-00000000000a', '3B241101-E2BB-4255-8CAF-4136C566A962', '3b241101-e2bb-4255-8caf-4136c566a962']),
    sessionId: pick(['sess-abcdefgh', 'A'.repeat(128), 'x_y-z_12']),
    trackId: pick(['t', 'track-1', 'a'.repeat(64)]),
    type: pick(BEACON_TYPES),
    ts: pick([0, Date.now(), 8.64e15]),
    positionMs: pick([0, 30_000, 24 * 3600_000]),
  };
  if (i % 2) e.rendition = pick([{ codec: 'aac', bitrateKbps: 128 }, { codec: 'opus.v1_x-y', bitrateKbps: 0, extra: 1 }, { codec: 'c'.repeat(32), bitrateKbps: 100_000 }]);
  if (i % 3 === 0) e.startupMs = pick([0, 600_000]);
  if (i % 4 === 0) e.bufferMs = pick([0, 3600_000]);
  if (i % 5 === 0) e.durationMs = pick([0, 10_000, 3600_000]);
  if (i % 6 === 0) e.errorCode = pick(['', 'E'.repeat(64), 'net::ERR_FAILED']);
  if (i % 7 === 0) e.edgeId = pick(['edge-1', 'e.d_g-e', 'x'.repeat(64)]);
  if (i % 8 === 0) e.unknownKey = 'stripped';
  if (i % 9 === 0) e.cmcd = { br: 96, sid: 'x' };
  return e;
}

const oddValues: unknown[] = [
  undefined, null, true, false, 0, -0, -1, 1.5, 1e999, -1e999, NaN, 2 ** 53, 8.64e15 + 1, 24 * 3600_000 + 1, 600_001, 3600_001, 100_001,
  '', 'x', '1', 'aac', 'a'.repeat(33), 'a'.repeat(65), 'a'.repeat(129), 'has space', 'ü', '00000000-0000-0000-0000-000000000000',
  'ffffffff-ffff-ffff-ffff-ffffffffffff', '3b241101-e2bb-0255-8caf-4136c566a962', '3b241101-e2bb-4255-7caf-4136c566a962', 'heartbeat', 'explode',
  [], [1], {}, { codec: 'aac' }, { codec: 'aac', bitrateKbps: -1 }, { codec: 'a a', bitrateKbps: 1 }, { br: { nested: 1 } },
];

function sameAnswer(input: unknown): void {
  const z = ZBeaconEvent.safeParse(input);
  const fast = fastBeaconEvent(input);
  if (fast) {
    assert.ok(z.success, `fast path accepted what zod refuses: ${JSON.stringify(input)}`);
    assert.deepEqual(fast, z.data, `different output for ${JSON.stringify(input)}`);
    assert.deepEqual(Object.keys(fast), Object.keys(z.data), 'same keys in the same order');
  }
}

test('fastBeaconEvent accepts only what ZBeaconEvent accepts and returns the same object', () => {
  let fastHits = 0;
  for (let i = 0; i < 400; i++) {
    const e = valid(i);
    sameAnswer(e);
    if (fastBeaconEvent(e)) fastHits++;
    for (const key of [...Object.keys(e), 'rendition', 'startupMs', 'edgeId', 'cmcd']) {
      for (const value of oddValues) sameAnswer({ ...e, [key]: value });
      const without = { ...e };
      delete without[key];
      sameAnswer(without);
    }
  }
  for (const junk of oddValues) sameAnswer(junk);
  assert.ok(fastHits > 250, `the common case takes the fast path (${fastHits} of 400)`);
});

test('validateEvents answers as zod alone would: accepted events, drops and the first issue', () => {
  const now = Date.now();
  for (let round = 0; round < 50; round++) {
    const batch: unknown[] = [];
    for (let i = 0; i < 30; i++) {
      const e = valid(Math.floor(rnd() * 1000));
      if (rnd() < 0.3) e[pick(Object.keys(e))] = pick(oddValues);
      if (rnd() < 0.1) e.ts = now - 8 * 86400_000;
      batch.push(rnd() < 0.05 ? pick(oddValues) : e);
    }
    if (batch.length > 3) batch.push(batch[1]);
    // Reference: zod on every event, as the collector did before the fast path.
    const ref: TBeaconEvent[] = [];
    const dropped: Record<string, number> = {};
    const seen = new Set<string>();
    let firstIssue: string | null = null;
    batch.forEach((item, i) => {
      const r = ZBeaconEvent.safeParse(item);
      if (!r.success) {
        dropped.invalid = (dropped.invalid ?? 0) + 1;
        if (!firstIssue) {
          const issue = r.error.issues[0];
          firstIssue = `events.${i}${issue.path.length ? '.' + issue.path.join('.') : ''}: ${issue.message}`;
        }
        return;
      }
      if (r.data.ts < now - 7 * 86400_000) {
        dropped.stale = (dropped.stale ?? 0) + 1;
        firstIssue ??= `events.${i}.ts: older than 7 days`;
        return;
      }
      const id = r.data.eventId.toLowerCase();
      if (seen.has(id)) {
        dropped.duplicate_in_request = (dropped.duplicate_in_request ?? 0) + 1;
        return;
      }
      seen.add(id);
      ref.push({ ...r.data, eventId: id });
    });
    const got = validateEvents(batch, now);
    assert.deepEqual(got.valid, ref);
    assert.deepEqual(got.dropped, dropped);
    assert.equal(got.firstIssue, firstIssue);
  }
});
