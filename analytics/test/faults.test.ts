/**
 * Faults, with the memory bus and with real Kafka (IT_KAFKA_BROKERS; the Kafka half fails when unset).
 * After each: distinct events in ClickHouse == events accepted (202), count() == distinct (nothing
 * written twice, so the QoE sums are right too) and plays are counted once.
 *
 * What each test proves, honestly:
 * - "ClickHouse refuses inserts": a materialized view that throws is attached to the raw table, so every
 *   insert fails, and fails AFTER ClickHouse may already have written the raw part (a partial insert,
 *   the nasty case). The consumer must pause (no commit), retry with backoff, and after the view is
 *   dropped finish without doubling anything. It does not stop a ClickHouse server process (chDB is
 *   in-process); the client-side path (an insert that throws) is the same.
 * - "consumer restarted mid-batch": consumer A is stopped while its batch is stuck in a failing insert
 *   into the stage table (raw rows written, the views perhaps partly), and a fresh consumer B (no memory of A) takes the group over; B gets the
 *   uncommitted batch again and must look up what is already stored. The process is not killed with a
 *   signal here; consumer-crash.test.ts does that (kill -9 of a child process, real Kafka).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { TBeaconEvent } from '@platform/models';
import { listening, postAll, scalar, sessionId, startHarness, waitFor, waitForEvents, type BusKind, type Harness } from './harness';

/** Make every insert into `table` fail, after ClickHouse may already have written part of it. */
async function injectFault(h: Harness, table: 'playback_events' | 'playback_events_stage'): Promise<void> {
  await h.olap.command({ query: 'CREATE TABLE IF NOT EXISTS fault_sink (x UInt8) ENGINE = Null' });
  await h.olap.command({
    query: `CREATE MATERIALIZED VIEW IF NOT EXISTS zz_fault_mv TO fault_sink AS
      SELECT throwIf(count() >= 0, 'injected fault: ClickHouse refuses this insert') AS x FROM ${table}`,
  });
}
async function healFault(h: Harness): Promise<void> {
  await h.olap.command({ query: 'DROP VIEW IF EXISTS zz_fault_mv' });
}

function someListening(n: number, track: string): TBeaconEvent[] {
  const out: TBeaconEvent[] = [];
  for (let i = 0; i < n; i++) out.push(...listening(sessionId(), track, { untilMs: 40_000, end: 'ended' }));
  return out;
}

async function assertExactlyOnce(h: Harness, accepted: number, playsByTrack: Record<string, number>, playingMs: number): Promise<void> {
  await waitForEvents(h.olap, accepted);
  assert.equal(await scalar(h.olap, 'SELECT uniqExact(eventId) FROM playback_events'), accepted, 'distinct events == accepted');
  assert.equal(await scalar(h.olap, 'SELECT count() FROM playback_events'), accepted, 'no event row written twice');
  assert.equal(await scalar(h.olap, 'SELECT sum(events) FROM qoe_1m'), accepted, 'the views got every event exactly once');
  assert.equal(await scalar(h.olap, 'SELECT sum(playingMs) FROM qoe_1m'), playingMs, 'QoE sums not doubled');
  for (const [t, n] of Object.entries(playsByTrack)) {
    assert.equal(await scalar(h.olap, `SELECT count() FROM plays WHERE trackId = '${t}'`), n, `plays of ${t}`);
    assert.equal(await scalar(h.olap, `SELECT uniqExactMerge(plays) FROM track_plays_1m WHERE trackId = '${t}'`), n, `per-minute plays of ${t}`);
  }
}

for (const kind of ['memory', 'kafka'] as BusKind[]) {
  describe(`faults (${kind} bus, chDB)`, () => {
    let h: Harness;
    let accepted = 0;
    const plays: Record<string, number> = {};
    let playingMs = 0;
    const send = async (n: number, track: string) => {
      const evs = someListening(n, track);
      accepted += await postAll(h.url, evs);
      plays[track] = (plays[track] ?? 0) + n;
      // 4 heartbeats x 10 s + `ended` 0 ms after the last heartbeat.
      playingMs += n * 40_000;
    };

    before(async () => {
      h = await startHarness({ name: `faults-${kind}`, bus: kind, routes: { sessionRequestsPerMinute: 100_000 }, consumer: { maxBatchRows: 200 } });
    });
    after(async () => h.close());

    test('ClickHouse refuses inserts: the consumer pauses, retries with backoff, and loses or doubles nothing', async () => {
      await send(20, 'fault-a');
      await assertExactlyOnce(h, accepted, plays, playingMs);
      await injectFault(h, 'playback_events');
      const failuresBefore = h.consumer!.stats.insertFailures;
      await send(30, 'fault-b');
      await waitFor('the consumer to hit the fault several times', async () => h.consumer!.stats.insertFailures >= failuresBefore + 3);
      const partial = await scalar(h.olap, 'SELECT count() FROM playback_events');
      h.logger.info({ partial, accepted }, 'rows visible while ClickHouse refused inserts');
      await healFault(h);
      await assertExactlyOnce(h, accepted, plays, playingMs);
    });

    test('poison messages on the topic are skipped and counted; the partition keeps flowing', async () => {
      const invalidBefore = h.consumer!.stats.invalid;
      const good = listening(sessionId(), 'poison-ok', { untilMs: 40_000, end: 'ended' });
      const bad = [
        'not json',
        JSON.stringify({ v: 1, receivedAt: Date.now(), userId: null, sessionId: 'x', events: [{ ...good[0], eventId: 'nope', eventTime: Date.now() }] }),
        JSON.stringify({ v: 1, receivedAt: Date.now(), userId: null, sessionId: 'x', events: [{ ...good[0], positionMs: -5, eventTime: Date.now() }] }),
        JSON.stringify({ v: 2 }),
      ];
      // Same key as the good events: same partition, before them.
      await h.bus.send(h.topic, bad.map((value) => ({ key: good[0].sessionId, value })));
      accepted += await postAll(h.url, good);
      plays['poison-ok'] = 1;
      playingMs += 40_000;
      await assertExactlyOnce(h, accepted, plays, playingMs);
      assert.equal(h.consumer!.stats.invalid - invalidBefore, bad.length);
    });

    test('consumer restarted mid-batch: a fresh consumer picks the uncommitted batch up without doubling it', async () => {
      // The raw rows are in, the views got part of the block (or none): the worst moment to die.
      await injectFault(h, 'playback_events_stage');
      const failuresBefore = h.consumer!.stats.insertFailures;
      await send(25, 'restart-a');
      await waitFor('consumer A stuck in a failing insert', async () => h.consumer!.stats.insertFailures >= failuresBefore + 2);
      await h.consumer!.stop();
      await healFault(h);
      const b = await h.startConsumer({ maxBatchRows: 200 });
      await send(10, 'restart-b');
      await assertExactlyOnce(h, accepted, plays, playingMs);
      assert.ok(b.stats.lookups >= 1, 'the redelivered batch was checked against ClickHouse');
      assert.ok(b.stats.replays >= 1, "the stored block's views were fed again under its token");
    });
  });
}
