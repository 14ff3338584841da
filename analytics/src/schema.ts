/**
 * The analytics store's ClickHouse schema. Idempotent (`IF NOT EXISTS`), applied at start by both the
 * consumer and the routes; the same SQL runs on chDB and on a ClickHouse server.
 *
 * Data flow of one consumer batch (one block per day, token T = hash of its event ids):
 *   1. INSERT INTO playback_events (raw, no views on it) ... token T, rows carry batchToken = T
 *   2. INSERT INTO playback_events_stage (Null engine) ... token T; its materialized views feed every
 *      aggregate table.
 * Raw rows therefore prove their block reached step 1, and carry the token to replay step 1 with: after
 * a crash, a redelivered batch replays step 1 for the tokens of the rows already in raw, and ClickHouse's
 * per-table deduplication (every table keeps a window) applies it exactly where it is missing. See
 * analytics/README.md "Delivery guarantees".
 *
 * Every play/listener/view counter is a SET (uniqExact over hashes, min/max per (session, track)), so
 * even a duplicate that got past all of that could not count a play twice.
 */
import type { ClickHouseClient } from '@clickhouse/client';

export const ANALYTICS_TABLES = {
  /** Raw events, one row per accepted event (deduplicated by eventId), 30 days. */
  events: 'playback_events',
  /** Null-engine table the consumer inserts each batch into a second time: the views read from here. */
  stage: 'playback_events_stage',
  /** Per minute per track: uniqExact states of play keys and listener keys (35 days). */
  tracksPerMinute: 'track_plays_1m',
  /** Per hour per track: the same states (400 days). */
  tracksPerHour: 'track_plays_1h',
  /** Per minute per edge and rendition: QoE aggregates and the event count fed to the views (35 days). */
  qoePerMinute: 'qoe_1m',
  /** One row set per (trackId, sessionId): the view's facts (min/max aggregates, 400 days). */
  views: 'playback_views',
  /** Plain view over `playback_views`: one row per play (the CONTRACT definition). For the recommender. */
  plays: 'plays',
} as const;

/** `playedAt` of a view that has not (yet) become a play. */
export const NOT_PLAYED = '2299-12-31 00:00:00.000';

// Deduplication window: how many recent insert blocks each table remembers (hashes or tokens), so a
// retried insert with the same token is skipped by tables that already took it.
const DEDUP = 'non_replicated_deduplication_window = 1000';

const QUALIFYING = "(type = 'ended' OR positionMs >= 30000)";
const LISTENER_KEY = "sipHash64(if(userId = '', concat('s:', sessionId), concat('u:', userId)))";

/** Plays and unique listeners per time bucket of qualifying events: a table and the view that feeds it. */
function playsRollup(table: string, bucket: string, startOf: string, partitionBy: string, ttlDays: number): string[] {
  return [
    `CREATE TABLE IF NOT EXISTS ${table} (
    ${bucket} DateTime('UTC'),
    trackId String,
    plays AggregateFunction(uniqExact, UInt64),
    listeners AggregateFunction(uniqExact, UInt64)
  ) ENGINE = AggregatingMergeTree
  PARTITION BY ${partitionBy}(${bucket})
  ORDER BY (${bucket}, trackId)
  TTL ${bucket} + INTERVAL ${ttlDays} DAY
  SETTINGS ${DEDUP}`,
    `CREATE MATERIALIZED VIEW IF NOT EXISTS ${table}_mv TO ${table} AS
  SELECT ${startOf}(eventTime) AS ${bucket}, trackId,
    uniqExactState(sipHash64(sessionId)) AS plays,
    uniqExactState(${LISTENER_KEY}) AS listeners
  FROM playback_events_stage WHERE ${QUALIFYING}
  GROUP BY ${bucket}, trackId`,
  ];
}

export const ANALYTICS_DDL: string[] = [
  `CREATE TABLE IF NOT EXISTS playback_events (
    eventId UUID,
    eventTime DateTime64(3, 'UTC'),
    receivedAt DateTime64(3, 'UTC'),
    clientTs Int64,
    sessionId String,
    userId String,
    trackId String,
    type LowCardinality(String),
    positionMs UInt32,
    codec LowCardinality(String),
    bitrateKbps UInt32,
    startupMs Nullable(UInt32),
    bufferMs Nullable(UInt32),
    durationMs Nullable(UInt32),
    errorCode LowCardinality(String),
    edgeId LowCardinality(String),
    cmcd String,
    batchToken String,
    insertedAt DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX batch_token_idx batchToken TYPE bloom_filter GRANULARITY 1
  ) ENGINE = ReplacingMergeTree
  PARTITION BY toYYYYMMDD(eventTime)
  ORDER BY (eventId)
  TTL toDateTime(eventTime) + INTERVAL 30 DAY
  SETTINGS ${DEDUP}`,

  `CREATE TABLE IF NOT EXISTS playback_events_stage (
    eventId UUID,
    eventTime DateTime64(3, 'UTC'),
    receivedAt DateTime64(3, 'UTC'),
    clientTs Int64,
    sessionId String,
    userId String,
    trackId String,
    type LowCardinality(String),
    positionMs UInt32,
    codec LowCardinality(String),
    bitrateKbps UInt32,
    startupMs Nullable(UInt32),
    bufferMs Nullable(UInt32),
    durationMs Nullable(UInt32),
    errorCode LowCardinality(String),
    edgeId LowCardinality(String),
    cmcd String,
    batchToken String
  ) ENGINE = Null`,

  ...playsRollup('track_plays_1m', 'minute', 'toStartOfMinute', 'toYYYYMMDD', 35),
  ...playsRollup('track_plays_1h', 'hour', 'toStartOfHour', 'toYYYYMM', 400),

  `CREATE TABLE IF NOT EXISTS qoe_1m (
    minute DateTime('UTC'),
    edgeId LowCardinality(String),
    codec LowCardinality(String),
    bitrateKbps UInt32,
    events SimpleAggregateFunction(sum, UInt64),
    views AggregateFunction(uniqExact, UInt64),
    erroredViews AggregateFunction(uniqExact, UInt64),
    startup AggregateFunction(quantiles(0.5, 0.95), UInt32),
    stallMs SimpleAggregateFunction(sum, UInt64),
    playingMs SimpleAggregateFunction(sum, UInt64)
  ) ENGINE = AggregatingMergeTree
  PARTITION BY toYYYYMMDD(minute)
  ORDER BY (minute, edgeId, codec, bitrateKbps)
  TTL minute + INTERVAL 35 DAY
  SETTINGS ${DEDUP}`,
  `CREATE MATERIALIZED VIEW IF NOT EXISTS qoe_1m_mv TO qoe_1m AS
  SELECT toStartOfMinute(eventTime) AS minute, edgeId, codec, bitrateKbps,
    count() AS events,
    uniqExactState(sipHash64(sessionId, trackId)) AS views,
    uniqExactStateIf(sipHash64(sessionId, trackId), type = 'error') AS erroredViews,
    quantilesStateIf(0.5, 0.95)(ifNull(startupMs, 0), type = 'first_audio' AND startupMs IS NOT NULL) AS startup,
    toUInt64(sumIf(ifNull(durationMs, 0), type = 'rebuffer_end')) AS stallMs,
    toUInt64(sumIf(ifNull(durationMs, 0), type IN ('heartbeat', 'pause', 'seek', 'skip', 'ended'))) AS playingMs
  FROM playback_events_stage
  GROUP BY minute, edgeId, codec, bitrateKbps`,

  `CREATE TABLE IF NOT EXISTS playback_views (
    trackId String,
    sessionId String,
    userId SimpleAggregateFunction(max, String),
    firstSeen SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    lastSeen SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    playedAt SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    maxPositionMs SimpleAggregateFunction(max, UInt32),
    started SimpleAggregateFunction(max, UInt8),
    ended SimpleAggregateFunction(max, UInt8),
    skipSignal SimpleAggregateFunction(max, UInt8),
    errored SimpleAggregateFunction(max, UInt8)
  ) ENGINE = AggregatingMergeTree
  PARTITION BY toYYYYMM(firstSeen)
  ORDER BY (trackId, sessionId)
  TTL toDateTime(lastSeen) + INTERVAL 400 DAY
  SETTINGS ${DEDUP}`,
  `CREATE MATERIALIZED VIEW IF NOT EXISTS playback_views_mv TO playback_views AS
  SELECT trackId, sessionId,
    max(userId) AS userId,
    min(eventTime) AS firstSeen,
    max(eventTime) AS lastSeen,
    min(if(${QUALIFYING}, eventTime, toDateTime64('${NOT_PLAYED}', 3, 'UTC'))) AS playedAt,
    max(positionMs) AS maxPositionMs,
    max(toUInt8(type IN ('play_start', 'first_audio'))) AS started,
    max(toUInt8(type = 'ended')) AS ended,
    max(toUInt8(type = 'skip' AND positionMs < 30000)) AS skipSignal,
    max(toUInt8(type = 'error')) AS errored
  FROM playback_events_stage
  GROUP BY trackId, sessionId`,

  // One row per play, per the CONTRACT: what the recommender and artist stats read.
  `CREATE VIEW IF NOT EXISTS plays AS
  SELECT trackId, sessionId, userId, playedAt, completed, maxPositionMs FROM (
    SELECT trackId, sessionId, max(userId) AS userId, min(playedAt) AS playedAt,
      max(ended) AS completed, max(maxPositionMs) AS maxPositionMs
    FROM playback_views GROUP BY trackId, sessionId
  ) WHERE playedAt < toDateTime64('${NOT_PLAYED}', 3, 'UTC')`,
];

/**
 * Upgrades from earlier versions of this schema (data dirs created by early builds): columns added
 * since, and views that must read from the stage table. Each step is idempotent.
 */
const UPGRADES: string[] = [
  `ALTER TABLE playback_events ADD COLUMN IF NOT EXISTS batchToken String AFTER cmcd`,
  `ALTER TABLE playback_events ADD INDEX IF NOT EXISTS batch_token_idx batchToken TYPE bloom_filter GRANULARITY 1`,
  `ALTER TABLE qoe_1m ADD COLUMN IF NOT EXISTS events SimpleAggregateFunction(sum, UInt64) AFTER bitrateKbps`,
];

/** Apply the schema (idempotent), upgrading views whose definition changed. */
export async function ensureAnalyticsSchema(olap: ClickHouseClient): Promise<void> {
  const mvs = ANALYTICS_DDL.filter((sql) => sql.startsWith('CREATE MATERIALIZED VIEW'));
  const tables = ANALYTICS_DDL.filter((sql) => !sql.startsWith('CREATE MATERIALIZED VIEW') && !sql.startsWith('CREATE VIEW'));
  for (const sql of tables) await olap.command({ query: sql });
  for (const sql of UPGRADES) await olap.command({ query: sql });
  // A view created by an older build (reading raw events, or without a column) is dropped and recreated.
  const rs = await olap.query({
    query: `SELECT name, as_select FROM system.tables WHERE database = currentDatabase() AND engine = 'MaterializedView'`,
    format: 'JSONEachRow',
  });
  const existing = new Map((await rs.json<{ name: string; as_select: string }>()).map((r) => [r.name, r.as_select]));
  for (const sql of mvs) {
    const name = /CREATE MATERIALIZED VIEW IF NOT EXISTS (\w+)/.exec(sql)![1];
    const current = existing.get(name);
    const outdated = current !== undefined && (!current.includes('playback_events_stage') || (name === 'qoe_1m_mv' && !/\bevents\b/.test(current)));
    if (outdated) await olap.command({ query: `DROP VIEW IF EXISTS ${name}` });
    await olap.command({ query: sql });
  }
  for (const sql of ANALYTICS_DDL.filter((q) => q.startsWith('CREATE VIEW'))) await olap.command({ query: sql });
}
