/**
 * Hot now: what is taking off. Computed in ClickHouse from analytics' per-minute aggregates: plays
 * and unique listeners over the recent window, each minute decayed by its age (half-life), against
 * the track's own hourly baseline over the previous days, so a track that suddenly takes off rises
 * above one that is merely always big. Also the cold start for listeners with no history.
 */
import type { ClickHouseClient } from '@clickhouse/client';

export interface HotNowOptions {
  windowMinutes: number;
  halfLifeMinutes: number;
  baselineDays: number;
  limit: number;
}

export const DEFAULT_HOT_NOW: HotNowOptions = { windowMinutes: 60, halfLifeMinutes: 20, baselineDays: 7, limit: 200 };

export interface HotTrack {
  trackId: string;
  /** Decayed plays in the window. */
  plays: number;
  /** Decayed unique listeners in the window. */
  listeners: number;
  /** Window plays over what the baseline predicts for a window this long (> 1: rising). */
  velocity: number;
  score: number;
}

export async function hotNow(olap: ClickHouseClient, opts: HotNowOptions = DEFAULT_HOT_NOW, now = Date.now()): Promise<HotTrack[]> {
  const nowSec = Math.floor(now / 1000);
  const r = await olap.query({
    query: `WITH
        recent AS (
          SELECT trackId,
                 sum(p * pow(0.5, age / {halfLife:Float64})) AS plays,
                 sum(l * pow(0.5, age / {halfLife:Float64})) AS listeners,
                 sum(p) AS rawPlays
          FROM (
            SELECT trackId, minute, uniqExactMerge(plays) AS p, uniqExactMerge(listeners) AS l,
                   (toUInt32({now:UInt32}) - toUInt32(minute)) / 60 AS age
            FROM track_plays_1m
            WHERE minute >= toDateTime({now:UInt32} - {window:UInt32} * 60, 'UTC')
            GROUP BY trackId, minute)
          GROUP BY trackId),
        base AS (
          SELECT trackId, sum(n) AS baseline FROM (
            SELECT trackId, hour, uniqExactMerge(plays) AS n FROM track_plays_1h
            WHERE hour >= toDateTime({now:UInt32} - {baseDays:UInt32} * 86400, 'UTC')
              AND hour < toDateTime({now:UInt32} - {window:UInt32} * 60, 'UTC')
              AND trackId IN (SELECT trackId FROM recent)
            GROUP BY trackId, hour)
          GROUP BY trackId)
      SELECT recent.trackId AS trackId, recent.plays AS plays, recent.listeners AS listeners,
             recent.rawPlays AS rawPlays, ifNull(base.baseline, 0) AS baseline
      FROM recent LEFT JOIN base ON base.trackId = recent.trackId`,
    query_params: { now: nowSec, window: opts.windowMinutes, halfLife: opts.halfLifeMinutes, baseDays: opts.baselineDays },
    format: 'JSONEachRow',
  });
  const rows = await r.json<{ trackId: string; plays: number | string; listeners: number | string; rawPlays: number | string; baseline: number | string }>();
  const baseMinutes = opts.baselineDays * 1440 - opts.windowMinutes;
  return rows
    .map((x) => {
      const plays = Number(x.plays);
      const listeners = Number(x.listeners);
      const expected = (Number(x.baseline) / Math.max(1, baseMinutes)) * opts.windowMinutes;
      const velocity = (Number(x.rawPlays) + 1) / (expected + 1);
      // Listeners weigh more than plays (one person on repeat is not a trend); velocity lifts risers.
      const score = (listeners + 0.25 * plays) * (1 + Math.log(Math.max(1, velocity)));
      return { trackId: x.trackId, plays: round(plays), listeners: round(listeners), velocity: round(velocity), score: round(score) };
    })
    .sort((a, b) => b.score - a.score || a.trackId.localeCompare(b.trackId))
    .slice(0, opts.limit);
}

const round = (x: number) => Math.round(x * 1000) / 1000;
