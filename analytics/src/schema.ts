/**
 * The analytics store's ClickHouse schema. Idempotent (`IF NOT EXISTS`), applied at start by both the
 * consumer and the routes; the same SQL runs on chDB and on a ClickHouse server.
 *
 * Data flow of one consumer batch (one block per day, token T = hash of its event ids):
 *   1. INSERT INTO playback_events_in (Null, plain String columns) ... token T, rows carry batchToken = T;
 *      its one view copies the block into playback_events (raw, no views on it), deduplicated there by T
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
import type { Logger } from '@platform/logging';

export const ANALYTICS_TABLES = {
  /** Raw events, one row per accepted event (deduplicated by eventId), 30 days. */
  events: 'playback_events',
  /** Null-engine table step 1's rows land in (String columns); one view copies each block into `events`. */
  landing: 'playback_events_in',
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

/** The columns of one event, in the raw table's order: raw, stage and landing tables share them. */
const EVENT_COLUMN_TYPES: ReadonlyArray<readonly [name: string, type: string]> = [
  ['eventId', 'UUID'],
  ['eventTime', "DateTime64(3, 'UTC')"],
  ['receivedAt', "DateTime64(3, 'UTC')"],
  ['clientTs', 'Int64'],
  ['sessionId', 'String'],
  ['userId', 'String'],
  ['trackId', 'String'],
  ['type', 'LowCardinality(String)'],
  ['positionMs', 'UInt32'],
  ['codec', 'LowCardinality(String)'],
  ['bitrateKbps', 'UInt32'],
  ['startupMs', 'Nullable(UInt32)'],
  ['bufferMs', 'Nullable(UInt32)'],
  ['durationMs', 'Nullable(UInt32)'],
  ['errorCode', 'LowCardinality(String)'],
  ['edgeId', 'LowCardinality(String)'],
  ['cmcd', 'String'],
  ['batchToken', 'String'],
];
/** The event columns' names in table order: what the consumer's rows (rowsBody) carry, in this order. */
export const EVENT_COLUMN_NAMES: readonly string[] = EVENT_COLUMN_TYPES.map(([name]) => name);
/** Column definitions; `plain`: String where the raw table has LowCardinality(String) (the landing table). */
const eventColumns = (plain = false) =>
  EVENT_COLUMN_TYPES.map(([name, type]) => `${name} ${plain && type === 'LowCardinality(String)' ? 'String' : type}`).join(',\n    ');

export const ANALYTICS_DDL: string[] = [
  `CREATE TABLE IF NOT EXISTS playback_events (
    ${eventColumns()},
    insertedAt DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX batch_token_idx batchToken TYPE bloom_filter GRANULARITY 1
  ) ENGINE = ReplacingMergeTree
  PARTITION BY toYYYYMMDD(eventTime)
  ORDER BY (eventId)
  TTL toDateTime(eventTime) + INTERVAL 30 DAY
  SETTINGS ${DEDUP}`,

  `CREATE TABLE IF NOT EXISTS playback_events_stage (
    ${eventColumns()}
  ) ENGINE = Null`,

  // Where step 1's rows land: the raw table's columns with plain String for its LowCardinality ones,
  // and one view copying each block into the raw table (same block, same token: deduplicated there).
  // The text parser fills a LowCardinality column value by value, a view converts a whole column at
  // once: measured (chDB, 50k-row blocks) ~0.8-1 us less CPU per row than parsing into the raw table.
  `CREATE TABLE IF NOT EXISTS playback_events_in (
    ${eventColumns(true)}
  ) ENGINE = Null`,
  `CREATE MATERIALIZED VIEW IF NOT EXISTS playback_events_in_mv TO playback_events AS
  SELECT ${EVENT_COLUMN_NAMES.join(', ')}
  FROM playback_events_in`,

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
/** With `log`, a server that refuses the chart snapshots (charts then all live) is said once, with its error. */
export async function ensureAnalyticsSchema(olap: ClickHouseClient, log?: Pick<Logger, 'warn'>): Promise<void> {
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
    // (Not the landing view, which reads playback_events_in: it has had one definition.)
    const outdated = current !== undefined && name !== 'playback_events_in_mv' && (!current.includes('playback_events_stage') || (name === 'qoe_1m_mv' && !/\bevents\b/.test(current)));
    if (outdated) await olap.command({ query: `DROP VIEW IF EXISTS ${name}` });
    await olap.command({ query: sql });
  }
  for (const sql of ANALYTICS_DDL.filter((q) => q.startsWith('CREATE VIEW'))) await olap.command({ query: sql });
  await ensureChartSnapshots(olap, log);
}

// ---------------------------------------------------------------------------------------------------
// Chart snapshots (read side only; nothing on the write path). The choice is explained in one place:
// analytics/README.md, Definitions ("Charts are snapshots").

/**
 * Plays per track in the window [from, +inf) at minute granularity, EXACT per the definition ("a play in
 * a window" counts once however many buckets its qualifying events fall in): the head minutes
 * [from, hourFrom) from the minute table and whole hours from `hourFrom` from the hour table, their
 * uniqExact states merged into one set per track. `from` and `hourFrom` are SQL expressions (query
 * parameters for the live query, now()-based expressions for the snapshot views), so the live query and
 * the snapshots are one definition.
 */
export function playsInWindowSql(from: string, hourFrom: string, limit: string): string {
  return `SELECT trackId, uniqExactMerge(plays) AS plays FROM (
       SELECT trackId, plays FROM track_plays_1m WHERE minute >= ${from} AND minute < ${hourFrom}
       UNION ALL
       SELECT trackId, plays FROM track_plays_1h WHERE hour >= ${hourFrom}
     ) GROUP BY trackId ORDER BY plays DESC, trackId LIMIT ${limit}`;
}

/**
 * Every chart window is served from a snapshot; how often each is recomputed (seconds). Windows up to
 * 15m: every second, all three by one view in one pass over the minute table (a play shows in the 5m/15m
 * chart within ~1 s of reaching ClickHouse); 30m every 5 s (see SHORT_WINDOWS); longer ones as often as the chart cache already refreshed
 * them. README "Charts over 10M events: snapshots" has the measurements behind these choices.
 */
export const CHART_SNAPSHOT_WINDOWS: Readonly<Record<string, number>> = {
  '1m': 1, '5m': 1, '15m': 1, '30m': 5, '1h': 5, '3h': 15, '6h': 30, '12h': 30, '24h': 30, '7d': 120, '30d': 300,
};
/**
 * Second (within the period) each long window refreshes at: staggered so that no two views run in the
 * same second (at load, views refreshing together on the :00 boundaries made the reads beside them wait).
 */
const CHART_SNAPSHOT_OFFSETS: Readonly<Record<string, number>> = { '30m': 3, '1h': 2, '3h': 4, '6h': 9, '12h': 14, '24h': 24, '7d': 31, '30d': 61 };
/**
 * The windows the one per-second view computes (the minute table alone). Not 30m: its pass read twice the
 * minutes of 15m every second, and after a full benchmark run that view cost the writer's chDB up to
 * ~2.6 us per event; 30m refreshes every 5 s in a view of its own.
 */
const SHORT_WINDOWS = ['1m', '5m', '15m'];
/** Tracks kept per snapshot: the chart route over-fetches at most 2 x 100 + 10. */
export const CHART_SNAPSHOT_DEPTH = 250;
/** Bumped whenever a snapshot view's definition changes: views of another version are recreated. */
const CHART_SNAPSHOT_VERSION = 'chart-snapshot v3';

const windowSeconds = (window: string) => {
  const m = /^(\d+)([mhd])$/.exec(window);
  if (!m || !CHART_SNAPSHOT_WINDOWS[window]) throw new Error(`no chart snapshot for window ${window}`);
  return Number(m[1]) * { m: 60, h: 3600, d: 86400 }[m[2] as 'm' | 'h' | 'd'];
};
// Same bounds as windowBounds() in queries.ts with now = asOf: from = the minute of (now - window),
// hourFrom = from rounded up to the hour. now() is fixed for the whole query.
const fromSql = (window: string) => `toStartOfMinute(now('UTC') - toIntervalSecond(${windowSeconds(window)}))`;
/** Ranked (plays, trackId) pairs as the live query orders them: plays desc, then trackId. */
const rankSql = (pairs: string) => `arraySlice(arraySort(x -> (-toInt64(x.1), x.2), ${pairs}), 1, ${CHART_SNAPSHOT_DEPTH})`;
// One thread per refresh: a refresh then takes one core at most, and reads beside it keep the other.
const ONE_THREAD = 'SETTINGS max_threads = 1';
const TARGET = `APPEND TO chart_top_snapshots
  (chartWindow String, asOf DateTime('UTC'), trackIds Array(String), plays Array(UInt64))`;

/** The refreshable view computing a window's snapshot (`chart_top_short_mv` for SHORT_WINDOWS). */
export function chartSnapshotView(window: string): { name: string; sql: string } {
  const seconds = CHART_SNAPSHOT_WINDOWS[window];
  if (SHORT_WINDOWS.includes(window)) {
    // One pass over the last 30 minutes: per track, the merged set of each window (-MergeIf on the
    // minute), then one ranked row per window. Aggregating without GROUP BY always yields a row, so a
    // window without plays gets its (empty) snapshot too.
    const counts = SHORT_WINDOWS.map((w, i) => (i === SHORT_WINDOWS.length - 1 ? 'uniqExactMerge(plays)' : `uniqExactMergeIf(plays, minute >= ${fromSql(w)})`));
    const ranked = SHORT_WINDOWS.map((_, i) => `${rankSql(`groupArrayIf((c[${i + 1}], trackId), c[${i + 1}] > 0)`)} AS r${i}`);
    return {
      name: 'chart_top_short_mv',
      sql: `CREATE MATERIALIZED VIEW IF NOT EXISTS chart_top_short_mv REFRESH EVERY ${seconds} SECOND ${TARGET} AS
  SELECT w.1 AS chartWindow, now('UTC') AS asOf, arrayMap(x -> x.2, w.2) AS trackIds, arrayMap(x -> x.1, w.2) AS plays
  FROM (
    SELECT ${ranked.join(', ')} FROM (
      SELECT trackId, [${counts.join(', ')}] AS c
      FROM track_plays_1m WHERE minute >= ${fromSql(SHORT_WINDOWS[SHORT_WINDOWS.length - 1])} GROUP BY trackId
    )
  )
  ARRAY JOIN [${SHORT_WINDOWS.map((w, i) => `('${w}', r${i})`).join(', ')}] AS w
  ${ONE_THREAD}
  COMMENT '${CHART_SNAPSHOT_VERSION}'`,
    };
  }
  const from = fromSql(window);
  const hourFrom = `if(toStartOfHour(${from}) = ${from}, ${from}, toStartOfHour(${from}) + toIntervalHour(1))`;
  const name = `chart_top_${window}_mv`;
  return {
    name,
    // One row per window, replaced by each refresh (the table's key is the window): the ranked tracks as
    // two arrays. A window without plays gets empty arrays, so a snapshot always exists once its view ran.
    sql: `CREATE MATERIALIZED VIEW IF NOT EXISTS ${name} REFRESH EVERY ${seconds} SECOND OFFSET ${CHART_SNAPSHOT_OFFSETS[window]} SECOND ${TARGET} AS
  SELECT '${window}' AS chartWindow, now('UTC') AS asOf, arrayMap(x -> x.2, ranked) AS trackIds, arrayMap(x -> x.1, ranked) AS plays
  FROM (
    SELECT ${rankSql('groupArray((plays, trackId))')} AS ranked FROM (
      ${playsInWindowSql(from, hourFrom, String(CHART_SNAPSHOT_DEPTH))}
    )
  )
  ${ONE_THREAD}
  COMMENT '${CHART_SNAPSHOT_VERSION}'`,
  };
}

/** Every snapshot view, once each. */
export function chartSnapshotViews(windows: string[] = Object.keys(CHART_SNAPSHOT_WINDOWS)): Array<{ name: string; sql: string }> {
  const byName = new Map(windows.map((w) => chartSnapshotView(w)).map((v) => [v.name, v]));
  return [...byName.values()];
}

/** The newest snapshot of each snapshot window: a key-value table (point reads), one row per window. */
export const CHART_SNAPSHOT_TABLE_DDL = `CREATE TABLE IF NOT EXISTS chart_top_snapshots (
    chartWindow String,
    asOf DateTime('UTC'),
    trackIds Array(String),
    plays Array(UInt64)
  ) ENGINE = EmbeddedRocksDB
  PRIMARY KEY chartWindow`;

/**
 * Create the snapshot table and the refreshable materialized views (one for the windows up to 15m,
 * one per longer window; ClickHouse runs them: on a server once for all web processes, on chDB in the
 * process that owns the data). Returns false when the engine refuses them (a server older than 24.10
 * without the experimental setting, or without EmbeddedRocksDB): charts then query every window live.
 */
export async function ensureChartSnapshots(olap: ClickHouseClient, log?: Pick<Logger, 'warn'>): Promise<boolean> {
  try {
    // (A server without EmbeddedRocksDB or refreshable views refuses these: charts are then all live.)
    await olap.command({ query: CHART_SNAPSHOT_TABLE_DDL });
    const rs = await olap.query({
      query: `SELECT name, comment FROM system.tables WHERE database = currentDatabase() AND name LIKE 'chart\\_top\\_%\\_mv'`,
      format: 'JSONEachRow',
    });
    const existing = new Map((await rs.json<{ name: string; comment: string }>()).map((r) => [r.name, r.comment]));
    for (const v of chartSnapshotViews()) {
      const comment = existing.get(v.name);
      if (comment !== undefined && comment !== CHART_SNAPSHOT_VERSION) await olap.command({ query: `DROP VIEW IF EXISTS ${v.name}` });
      await olap.command({ query: v.sql });
    }
    return true;
  } catch (err) {
    log?.warn({ err }, 'analytics: chart snapshots refused by ClickHouse (EmbeddedRocksDB, refreshable views from 24.10); every chart window is computed live');
    return false;
  }
}
