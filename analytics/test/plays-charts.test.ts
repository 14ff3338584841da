/**
 * Counting: the CONTRACT's play (30 s or ended, once per (session, track)), the skip definition,
 * replays counted once (the same requests again, and the same bus messages again), chart windows,
 * trending against each track's baseline, artist stats and QoE. HTTP -> memory bus -> consumer -> chDB,
 * titles from PostgreSQL with the catalog's own migrations.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- JSON answers, checked field by field */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { TBeaconEvent } from '@platform/models';
import { listening, postAll, scalar, seedCatalog, sessionId, startHarness, waitForEvents, waitFor, type Harness } from './harness';
import { refreshChartSnapshots, toEnvelopes } from '../src/index';

const MIN = 60_000;
const HOUR = 3600_000;

async function getJson(h: Harness, path: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${h.url}${path}`);
  return { status: res.status, body: await res.json() };
}

describe('plays, skips, charts (memory bus, chDB, PostgreSQL)', () => {
  let h: Harness;
  let cat: { artistId: string; ownerId: string | null; trackIds: string[] };
  let other: { artistId: string; ownerId: string | null; trackIds: string[] };
  let accepted = 0;
  const sent: TBeaconEvent[] = [];

  before(async () => {
    // Charts uncached here: each assertion must see the events just posted (the cache has its own test).
    h = await startHarness({ name: 'plays', withSql: true, routes: { sessionRequestsPerMinute: 100_000, chartCache: false } });
    cat = await seedCatalog(h.sql, { artist: 'The Counters', tracks: [{ title: 'Thirty Seconds' }, { title: 'Short Song' }, { title: 'Skipped' }, { title: 'Unreleased', published: false }] });
    other = await seedCatalog(h.sql, { artist: 'Somebody Else', tracks: [{ title: 'Old Hit' }, { title: 'Sleeper' }] });
  });
  after(async () => h.close());

  test('the play rule: >= 30 s or ended, once per (session, track); skips before 30 s', async () => {
    const [t30, tShort, tSkip] = cat.trackIds;
    const sA = sessionId();
    const sB = sessionId();
    const sC = sessionId();
    const events = [
      // sA: plays t30 for 3 minutes (many qualifying heartbeats), then t30 again in the same session.
      ...listening(sA, t30, { untilMs: 180_000, end: 'ended' }),
      ...listening(sA, t30, { untilMs: 40_000 }),
      // sB: t30 stops at 20 s (no play, no skip signal: an abandoned view); a short track that ended at 20 s (a play).
      ...listening(sB, t30, { untilMs: 20_000 }),
      ...listening(sB, tShort, { untilMs: 20_000, end: 'ended' }),
      // sC: skips tSkip at 10 s (a skip); skips t30 at 10 s then comes back and passes 30 s (a play, not a skip).
      ...listening(sC, tSkip, { untilMs: 10_000, end: 'skip' }),
      ...listening(sC, t30, { untilMs: 10_000, end: 'skip' }),
      ...listening(sC, t30, { untilMs: 30_000 }),
    ];
    sent.push(...events);
    accepted += await postAll(h.url, events);
    await waitForEvents(h.olap, accepted);
    const plays = await scalar(h.olap, `SELECT count() FROM plays WHERE trackId = '${t30}'`);
    assert.equal(plays, 2, 'sA once (despite two listenings and many heartbeats), sC once; sB at 20 s is not a play');
    assert.equal(await scalar(h.olap, `SELECT count() FROM plays WHERE trackId = '${tShort}'`), 1, 'ended counts even before 30 s');
    assert.equal(await scalar(h.olap, `SELECT count() FROM plays WHERE trackId = '${tSkip}'`), 0);
    await refreshChartSnapshots(h.olap); // charts are snapshots refreshed every second: take one now
    const top = await getJson(h, '/api/charts/top?window=15m&limit=20');
    assert.equal(top.status, 200);
    assert.deepEqual(
      top.body.tracks.map((t: any) => [t.title, t.artist, t.plays]),
      [
        ['Thirty Seconds', 'The Counters', 2],
        ['Short Song', 'The Counters', 1],
      ],
    );
    assert.equal(top.body.window, '15m');
    assert.ok(!Number.isNaN(Date.parse(top.body.generatedAt)));
  });

  test('replays count once: the same requests again, and the same bus messages again', async () => {
    const [t30] = cat.trackIds;
    const distinctBefore = await scalar(h.olap, 'SELECT uniqExact(eventId) FROM playback_events');
    const playingBefore = await scalar(h.olap, 'SELECT sum(playingMs) FROM qoe_1m');
    // The client resends everything (sendBeacon retried): 202 again, nothing new counted.
    await postAll(h.url, sent);
    // A producer retry duplicates messages on the bus (idempotence lost, or our buffer re-sending).
    const envs = toEnvelopes(sent, Date.now(), null);
    await h.bus.send(h.topic, envs.map((e) => ({ key: e.sessionId, value: JSON.stringify(e) })));
    // Wait until the consumer has seen all of them (its duplicate counter), then check nothing moved.
    await waitFor('duplicates dropped', async () => (h.consumer!.stats.duplicates >= sent.length * 2));
    assert.equal(await scalar(h.olap, 'SELECT uniqExact(eventId) FROM playback_events'), distinctBefore);
    assert.equal(await scalar(h.olap, 'SELECT count() FROM playback_events'), distinctBefore, 'raw insert was exactly-once, not only deduplicated at read');
    assert.equal(await scalar(h.olap, 'SELECT sum(playingMs) FROM qoe_1m'), playingBefore, 'QoE sums did not double');
    assert.equal(await scalar(h.olap, 'SELECT sum(events) FROM qoe_1m'), distinctBefore, 'the views got each event once');
    assert.equal(await scalar(h.olap, `SELECT count() FROM plays WHERE trackId = '${t30}'`), 2);
    await refreshChartSnapshots(h.olap); // charts are snapshots refreshed every second: take one now
    const top = await getJson(h, '/api/charts/top?window=5m');
    assert.equal(top.body.tracks[0].plays, 2);
  });

  test('unpublished tracks never appear in charts', async () => {
    const unreleased = cat.trackIds[3];
    const ev = listening(sessionId(), unreleased, { untilMs: 40_000 });
    accepted += await postAll(h.url, ev);
    await waitForEvents(h.olap, accepted);
    assert.equal(await scalar(h.olap, `SELECT count() FROM plays WHERE trackId = '${unreleased}'`), 1);
    await refreshChartSnapshots(h.olap);
    const top = await getJson(h, '/api/charts/top?window=1h');
    assert.equal(top.body.tracks.some((t: any) => t.id === unreleased), false);
  });

  test('windows 5m / 15m / 1h / 24h / 7d count the plays whose qualifying events fall inside', async () => {
    const [oldHit] = other.trackIds;
    const now = Date.now();
    // One play of "Old Hit" at each age: 3 min, 40 min, 5 h, 3 days.
    const ages = [3 * MIN, 40 * MIN, 5 * HOUR, 3 * 86400_000];
    const evs = ages.flatMap((age) => listening(sessionId(), oldHit, { untilMs: 30_000, ts: now - age }));
    accepted += await postAll(h.url, evs);
    await waitForEvents(h.olap, accepted);
    // Charts are served from snapshots (refreshed every 1 s to 5 min): recompute them now.
    await refreshChartSnapshots(h.olap);
    const playsIn = async (w: string) => {
      const r = await getJson(h, `/api/charts/top?window=${w}&limit=50`);
      assert.equal(r.status, 200);
      return r.body.tracks.find((t: any) => t.id === oldHit)?.plays ?? 0;
    };
    assert.equal(await playsIn('5m'), 1);
    assert.equal(await playsIn('15m'), 1);
    assert.equal(await playsIn('1h'), 2);
    assert.equal(await playsIn('24h'), 3);
    assert.equal(await playsIn('7d'), 4);
    assert.equal(await playsIn('30d'), 4);
    const bad = await getJson(h, '/api/charts/top?window=2w');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.code, 'validation_failed');
    assert.equal((await getJson(h, '/api/charts/top?limit=0')).status, 400);
  });

  test('trending ranks a sleeper that takes off above a steady hit', async () => {
    const [oldHit, sleeper] = other.trackIds;
    const now = Date.now();
    const evs: TBeaconEvent[] = [];
    // Old Hit: 3 plays an hour for the last 7 days (its baseline), and 4 more in the last hour: steady.
    for (let hAgo = 1; hAgo <= 167; hAgo++) for (let i = 0; i < 3; i++) evs.push(...listening(sessionId(), oldHit, { untilMs: 30_000, ts: now - hAgo * HOUR - i * MIN - 2 * MIN }));
    for (let i = 0; i < 4; i++) evs.push(...listening(sessionId(), oldHit, { untilMs: 30_000, ts: now - i * 5 * MIN - MIN }));
    // Sleeper: one play two days ago, then 6 in the last hour.
    evs.push(...listening(sessionId(), sleeper, { untilMs: 30_000, ts: now - 47 * HOUR }));
    for (let i = 0; i < 6; i++) evs.push(...listening(sessionId(), sleeper, { untilMs: 30_000, ts: now - i * 5 * MIN - MIN }));
    accepted += await postAll(h.url, evs);
    await waitForEvents(h.olap, accepted);
    const r = await getJson(h, '/api/charts/trending?window=1h&limit=10');
    assert.equal(r.status, 200);
    const ids = r.body.tracks.map((t: any) => t.id);
    assert.equal(ids[0], sleeper, JSON.stringify(r.body.tracks));
    const hit = r.body.tracks.find((t: any) => t.id === oldHit);
    const sl = r.body.tracks[0];
    assert.ok(sl.velocity > (hit?.velocity ?? 0));
    assert.ok(hit === undefined || hit.velocity < 2, 'a steady hit is not trending');
  });

  test('artist stats: owner or admin only; plays per day per track, listeners, completion and skip rates', async () => {
    const path = `/api/artists/${cat.artistId}/stats?days=7`;
    h.signIn(null);
    assert.equal((await getJson(h, path)).status, 401);
    h.signIn({ role: 'musician' });
    assert.equal((await getJson(h, path)).status, 403);
    h.signIn({ id: cat.ownerId!, role: 'musician' });
    const r = await getJson(h, path);
    h.signIn(null);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const [t30, tShort, tSkip] = cat.trackIds;
    const byId = Object.fromEntries(r.body.tracks.map((t: any) => [t.id, t]));
    assert.equal(byId[t30].plays, 2);
    assert.equal(byId[tShort].plays, 1);
    assert.equal(byId[tShort].completionRate, 1);
    assert.equal(byId[tSkip].plays, 0);
    assert.equal(byId[tSkip].skipRate, 1);
    // t30 views: sA, sB, sC started it; sC's early skip became a play, so no skip counts.
    assert.equal(byId[t30].views, 3);
    assert.equal(byId[t30].skipRate, 0);
    assert.equal(byId[t30].completionRate, Math.round((1 / 3) * 10_000) / 10_000);
    assert.equal(r.body.tracks.some((t: any) => t.title === 'Unreleased'), false);
    const today = new Date().toISOString().slice(0, 10);
    assert.ok(r.body.daily.some((d: any) => d.day === today && d.trackId === t30 && d.plays === 2));
    assert.equal(r.body.totals.plays, 3);
    assert.equal(r.body.totals.uniqueListeners, 3, 'sA and sC played t30, sB the short one (anonymous: one listener per session)');
  });

  test('QoE summary: startup quantiles, rebuffer ratio, error rate per edge and rendition', async () => {
    const s = sessionId();
    const t = cat.trackIds[0];
    const base = { rendition: { codec: 'flac', bitrateKbps: 900 }, edgeId: 'edge-qoe' };
    const evs = [
      ...listening(s, t, { untilMs: 20_000, rendition: base.rendition, edgeId: base.edgeId, startupMs: 400 }),
    ];
    evs.push({ ...evs[2], eventId: crypto.randomUUID(), type: 'rebuffer_start', positionMs: 20_000, durationMs: undefined });
    evs.push({ ...evs[2], eventId: crypto.randomUUID(), type: 'rebuffer_end', positionMs: 20_000, durationMs: 5_000 });
    evs.push({ ...evs[2], eventId: crypto.randomUUID(), type: 'error', positionMs: 20_000, errorCode: 'media_error', durationMs: undefined });
    accepted += await postAll(h.url, evs);
    await waitForEvents(h.olap, accepted);
    h.signIn({ role: 'admin' });
    const r = await getJson(h, '/api/qoe/summary?window=15m');
    h.signIn(null);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const edge = r.body.byEdge.find((e: any) => e.edgeId === 'edge-qoe');
    assert.equal(edge.views, 1);
    assert.equal(edge.startupP50Ms, 400);
    assert.equal(edge.errorRate, 1);
    // 2 heartbeats x 10 s playing, 5 s stalled: 5 / 25.
    assert.equal(edge.rebufferRatio, 0.2);
    const flac = r.body.byRendition.find((x: any) => x.codec === 'flac' && x.bitrateKbps === 900);
    assert.equal(flac.views, 1);
    assert.ok(r.body.overall.views >= 5);
    assert.ok(r.body.series.length >= 1);
    assert.equal((await getJson(h, '/api/qoe/summary')).status, 401);
  });
});
