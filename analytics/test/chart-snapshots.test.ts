/**
 * Every chart window is served from a snapshot that ClickHouse's refreshable views compute
 * (see README, Definitions: "Charts are snapshots"). On real chDB data (plays over 10 days, many of them
 * with qualifying events in two minute or hour buckets), every snapshot equals the exact live query at
 * the snapshot's time; short windows are refreshed every second (a play written now reaches the 5m/15m snapshots by itself);
 * the views refresh by themselves; a missing or overdue snapshot falls back to the live query.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import type { ClickHouseClient } from '@clickhouse/client';
import { createLogger } from '@platform/logging';
import { createOlapClient } from '@platform/olap';
import {
  CHART_SNAPSHOT_WINDOWS,
  chartTop,
  ensureAnalyticsSchema,
  envelopeRows,
  latestSnapshot,
  refreshChartSnapshots,
  toEnvelopes,
  topTrackIds,
  writeEventBlock,
} from '../src/index';
import { listening, scalar, sessionId, tmpDir, waitFor } from './harness';

const DEPTH = 250;

/**
 * `plays` plays of 10 events each (play_start, first_audio, heartbeats 10 s apart, ended): qualifying
 * from the third event on, so a play's qualifying events span 70 s and often two minute (and sometimes
 * two hour) buckets. Spread over 10 days before now, 3000 sessions, tracks Zipf-popular among 500.
 */
async function generate(olap: ClickHouseClient, plays: number): Promise<void> {
  await olap.command({
    query: `INSERT INTO playback_events_stage (eventId, eventTime, receivedAt, clientTs, sessionId, userId, trackId, type, positionMs, codec, bitrateKbps, errorCode, edgeId, cmcd, batchToken)
      SELECT generateUUIDv4(number), eventTime, eventTime, toInt64(toUnixTimestamp64Milli(eventTime)), sessionId, '', trackId, type, positionMs, 'aac', 128, '', 'edge-1', '', 'gen'
      FROM (
        SELECT number, intDiv(number, 10) AS play, number % 10 AS k,
          least(now64(3, 'UTC'), now64(3, 'UTC') - toIntervalMillisecond(intHash64(play) % ${10 * 86400_000}) + toIntervalMillisecond(k * 10000)) AS eventTime,
          concat('gen-sess', toString(play % 3000)) AS sessionId,
          concat('gen-track', toString(least(499, toUInt32(floor(1000 / (sipHash64(play) % 1000 + 1))) - 1))) AS trackId,
          multiIf(k = 0, 'play_start', k = 1, 'first_audio', k < 9, 'heartbeat', 'ended') AS type,
          toUInt32(k * 10000) AS positionMs
        FROM numbers(${plays * 10})
      )`,
  });
}

/** Refresh the snapshots and return them once every window has one computed after `afterMs`. */
async function snapshotsAfter(olap: ClickHouseClient, afterMs: number) {
  const out = new Map<string, NonNullable<Awaited<ReturnType<typeof latestSnapshot>>>>();
  await waitFor('snapshots computed after the data was written', async () => {
    await refreshChartSnapshots(olap);
    for (const w of Object.keys(CHART_SNAPSHOT_WINDOWS)) {
      const s = await latestSnapshot(olap, w, DEPTH);
      if (!s || s.asOf <= afterMs) return false;
      out.set(w, s);
    }
    return true;
  });
  return out;
}

describe('chart snapshots (chDB)', () => {
  let olap: ClickHouseClient;
  let dataDir: string;

  before(async () => {
    dataDir = tmpDir('analytics-chart-snapshots');
    olap = await createOlapClient({ CLICKHOUSE_URL: undefined, dataDir }, createLogger({ name: 'chart-snapshots', level: 'silent' }));
    await ensureAnalyticsSchema(olap);
  });
  after(async () => {
    await olap.close();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  test('a window without plays has an empty snapshot, not none', async () => {
    await refreshChartSnapshots(olap);
    for (const w of Object.keys(CHART_SNAPSHOT_WINDOWS)) {
      const s = await latestSnapshot(olap, w, 20);
      assert.ok(s, `${w} has a snapshot`);
      assert.deepEqual(s.tracks, []);
      const top = await chartTop(olap, w, 20);
      assert.equal(top.source, 'snapshot');
      assert.deepEqual(top.tracks, []);
    }
  });

  test('every snapshot equals the exact live query at its time', async () => {
    await generate(olap, 40_000);
    // Snapshots strictly after the load (asOf has whole seconds): none may be a refresh that overlapped it.
    const loaded = Math.ceil(Date.now() / 1000) * 1000;
    await new Promise((r) => setTimeout(r, loaded - Date.now() + 1));
    const snaps = await snapshotsAfter(olap, loaded);
    for (const [w, s] of snaps) {
      const live = await topTrackIds(olap, w, DEPTH, s.asOf);
      assert.ok(s.tracks.length > (CHART_SNAPSHOT_WINDOWS[w] > 1 ? 10 : 0), `${w}: ${s.tracks.length} tracks`);
      assert.deepEqual(s.tracks, live, `${w} snapshot at ${new Date(s.asOf).toISOString()} = live query at that time`);
      const served = await chartTop(olap, w, 20, s.asOf);
      assert.equal(served.source, 'snapshot');
      assert.equal(served.asOf, s.asOf);
      assert.deepEqual(served.tracks, live.slice(0, 20));
    }
    // The data has plays whose qualifying events fall in two hours: adding per-hour counts would count them
    // twice, so the equality above is the "once per window" merge, not a sum that happens to agree.
    const top = snaps.get('7d')!.tracks[0];
    const from = Math.floor((snaps.get('7d')!.asOf - 7 * 86400_000) / 3600_000 + 1) * 3600;
    const wholeHours = await scalar(olap, `SELECT uniqExactMerge(plays) FROM track_plays_1h WHERE trackId = '${top.trackId}' AND hour >= toDateTime(${from}, 'UTC')`);
    const wholeHoursSum = await scalar(olap, `SELECT sum(n) FROM (SELECT hour, uniqExactMerge(plays) AS n FROM track_plays_1h WHERE trackId = '${top.trackId}' AND hour >= toDateTime(${from}, 'UTC') GROUP BY hour)`);
    assert.ok(wholeHoursSum > wholeHours, `plays spanning two hours exist (${wholeHoursSum} per-hour sum vs ${wholeHours} distinct)`);
  });

  test('a play written now reaches the 5m and 15m charts by itself within the next refreshes (every 1 s)', async () => {
    const track = 'fresh-track';
    const rows = toEnvelopes(listening(sessionId(), track, { untilMs: 40_000, end: 'ended' }), Date.now(), null).flatMap((e) => envelopeRows(e));
    await writeEventBlock(olap, rows, 'fresh-block');
    // The live query sees it at once; the served charts (snapshots, no SYSTEM REFRESH here) follow.
    for (const w of ['1m', '5m', '15m', '30m']) {
      assert.deepEqual((await topTrackIds(olap, w, 100)).find((t) => t.trackId === track), { trackId: track, plays: 1 }, `${w} live`);
    }
    for (const w of ['1m', '5m', '15m', '30m', '1h']) {
      await waitFor(`the ${w} chart shows the new play`, async () => {
        const top = await chartTop(olap, w, 100);
        assert.equal(top.source, 'snapshot');
        return top.tracks.some((t) => t.trackId === track && t.plays === 1);
      });
      const s = (await latestSnapshot(olap, w, DEPTH))!;
      assert.deepEqual(s.tracks, await topTrackIds(olap, w, DEPTH, s.asOf), `${w} snapshot = live at its time`);
    }
  });

  test('an overdue snapshot is not served: the window is computed live', async () => {
    const s = (await latestSnapshot(olap, '24h', 20))!;
    const later = s.asOf + 10 * 60_000; // 10 minutes after the snapshot, far past 3 periods of 30 s
    const top = await chartTop(olap, '24h', 20, later);
    assert.equal(top.source, 'live');
    assert.equal(top.asOf, later);
    assert.deepEqual(top.tracks, await topTrackIds(olap, '24h', 20, later));
  });
});
