/**
 * Beacons area: the playback events players send to `POST /api/beacons` (CONTRACT.md), the envelope
 * the collector produces to the `playback.events` topic, and the one definition of "a play" and
 * "a skip" that every counter (ClickHouse views, artist stats, recommender) follows.
 *
 * The event is public: other players may send it, so the schema is strict about types and bounds
 * but tolerant of unknown CMCD keys. Version `v: 1`; a breaking change gets `v: 2` beside it.
 */
import { z } from 'zod';
import { ZCmcd } from './playback';

export const BEACON_TYPES = [
  'play_start',
  'first_audio',
  'heartbeat',
  'pause',
  'resume',
  'seek',
  'rebuffer_start',
  'rebuffer_end',
  'rendition_switch',
  'error',
  'ended',
  'skip',
] as const;
export type TBeaconType = (typeof BEACON_TYPES)[number];

/** A (sessionId, trackId) becomes a play once an event shows this much playback position... */
export const PLAY_THRESHOLD_MS = 30_000;
/**
 * THE definition of a play (CONTRACT.md): one (sessionId, trackId) that reached positionMs >= 30 000
 * or `ended`. It counts once however many of its events arrive or are replayed, because every counter
 * keys on (sessionId, trackId), never on events.
 */
export function isPlayQualifying(e: { type: TBeaconType; positionMs: number }): boolean {
  return e.type === 'ended' || e.positionMs >= PLAY_THRESHOLD_MS;
}
/**
 * THE definition of a skip: a (sessionId, trackId) with a `skip` event before 30 s of position that
 * never became a play. Players send `skip` when the listener moves on (next, another track, or a new
 * track started) while a track plays; the "never became a play" half is decided over all of the
 * view's events, so a late heartbeat past 30 s turns a skip back into a play.
 */
export function isSkipSignal(e: { type: TBeaconType; positionMs: number }): boolean {
  return e.type === 'skip' && e.positionMs < PLAY_THRESHOLD_MS;
}

/** Catalog ids are UUIDs today; any URL-safe id up to 64 characters is accepted (other catalogs). */
const ZId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be an id of letters, digits, - or _ (at most 64)');
const ZMs = z.number().int().nonnegative();

export const ZBeaconRendition = z.object({
  codec: z.string().regex(/^[A-Za-z0-9._-]{1,32}$/, 'must be a codec name like aac, opus, flac, mp3'),
  bitrateKbps: z.number().int().min(0).max(100_000),
});
export type TBeaconRendition = z.infer<typeof ZBeaconRendition>;

/** One playback event, exactly the CONTRACT shape (plus `durationMs`, see below). */
export const ZBeaconEvent = z.object({
  v: z.literal(1),
  /** UUID, v7 from our player (time-ordered); any UUID version is accepted. The deduplication key. */
  eventId: z.string().uuid(),
  /** The player's listening session (one page life, or longer): a random id, not a secret. */
  sessionId: z.string().regex(/^[A-Za-z0-9_-]{8,128}$/, 'must be 8-128 letters, digits, - or _'),
  trackId: ZId,
  type: z.enum(BEACON_TYPES),
  /** Client clock, epoch ms. */
  ts: ZMs.max(8.64e15),
  positionMs: ZMs.max(24 * 3600_000),
  rendition: ZBeaconRendition.optional(),
  /** On `first_audio`: play request to first audio with the playhead moving (QoE startup time). */
  startupMs: ZMs.max(600_000).optional(),
  /** Buffer length ahead of the playhead at the event (CMCD `bl`). */
  bufferMs: ZMs.max(3600_000).optional(),
  /**
   * Extension beyond the CONTRACT (optional, additive): on `rebuffer_end` the stall's length; on
   * `heartbeat`, `pause`, `seek`, `skip`, `ended` the playing time since the previous of those events.
   * The QoE rebuffering ratio is sum(stalls) / (sum(playing) + sum(stalls)).
   */
  durationMs: ZMs.max(3600_000).optional(),
  errorCode: z.string().max(64).optional(),
  edgeId: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).optional(),
  cmcd: ZCmcd.optional(),
});
export type TBeaconEvent = z.infer<typeof ZBeaconEvent>;

/** Request bounds, shared by the player (batching) and the collector (enforcement). */
export const BEACON_MAX_EVENTS = 100;
export const BEACON_MAX_BYTES = 64 * 1024;

/**
 * `POST /api/beacons` body. Events are validated one by one by the collector (a bad event is dropped
 * and counted, the rest accepted), so the request schema only checks the outer shape.
 */
export const ZBeaconBatch = z.object({
  events: z.array(z.unknown()).min(1).max(BEACON_MAX_EVENTS),
});
export type TBeaconBatch = { events: TBeaconEvent[] };

/** `202` answer: how many events were accepted and how many dropped as invalid or rate limited. */
export const ZBeaconAccepted = z.object({
  accepted: z.number().int().nonnegative(),
  rejected: z.number().int().nonnegative(),
  /** True when the bus was down and the events wait in the collector's bounded buffer. */
  buffered: z.boolean(),
});
export type TBeaconAccepted = z.infer<typeof ZBeaconAccepted>;

/**
 * What the collector produces to `playback.events`, keyed by sessionId: the events of one request and
 * one session, with what only the server knows. `eventTime` per event is the time counters use.
 */
export const ZBeaconEnvelope = z.object({
  v: z.literal(1),
  /** Server clock, epoch ms, when the collector accepted the request. */
  receivedAt: ZMs,
  /** Signed-in user, when the request carried a session cookie or token. */
  userId: z.string().max(64).nullable(),
  sessionId: z.string(),
  events: z.array(ZBeaconEvent.extend({ eventTime: ZMs })).min(1),
});
export type TBeaconEnvelope = z.infer<typeof ZBeaconEnvelope>;

export const PLAYBACK_EVENTS_TOPIC = 'playback.events';

// ---- read APIs ----

/** Windows accepted by charts and QoE: 1m..30d. */
export const CHART_WINDOWS = ['1m', '5m', '15m', '30m', '1h', '3h', '6h', '12h', '24h', '7d', '30d'] as const;
export const ZChartWindow = z.enum(CHART_WINDOWS);
export type TChartWindow = z.infer<typeof ZChartWindow>;

export const ZTopChartQuery = z.object({
  window: ZChartWindow.default('15m'),
  limit: z.coerce.number().int().min(1).max(100).default(20),
});
export const ZChartTrack = z.object({ id: z.string(), title: z.string(), artist: z.string(), plays: z.number().int() });
export const ZTopChartResponse = z.object({
  window: ZChartWindow,
  generatedAt: z.string().datetime(),
  tracks: z.array(ZChartTrack),
});
export type TTopChartResponse = z.infer<typeof ZTopChartResponse>;

export const ZTrendingQuery = z.object({
  window: z.enum(['15m', '1h', '3h', '6h', '24h']).default('1h'),
  limit: z.coerce.number().int().min(1).max(100).default(20),
});
export const ZTrendingResponse = z.object({
  window: z.string(),
  baselineDays: z.number().int(),
  generatedAt: z.string().datetime(),
  tracks: z.array(
    ZChartTrack.extend({
      /** Plays expected in this window from the track's own baseline (its average rate over the baseline days). */
      expected: z.number(),
      /** (plays + 1) / (expected + 1): how many times faster than usual. */
      velocity: z.number(),
    }),
  ),
});
export type TTrendingResponse = z.infer<typeof ZTrendingResponse>;

export const ZArtistStatsQuery = z.object({ days: z.coerce.number().int().min(1).max(90).default(28) });
export const ZArtistStatsResponse = z.object({
  artistId: z.string(),
  days: z.number().int(),
  generatedAt: z.string().datetime(),
  totals: z.object({
    plays: z.number().int(),
    uniqueListeners: z.number().int(),
    views: z.number().int(),
    completionRate: z.number().nullable(),
    skipRate: z.number().nullable(),
  }),
  /** One entry per day (UTC, oldest first) per track that had plays. */
  daily: z.array(z.object({ day: z.string(), trackId: z.string(), plays: z.number().int(), uniqueListeners: z.number().int() })),
  tracks: z.array(
    z.object({
      id: z.string(),
      title: z.string(),
      plays: z.number().int(),
      uniqueListeners: z.number().int(),
      views: z.number().int(),
      completionRate: z.number().nullable(),
      skipRate: z.number().nullable(),
    }),
  ),
});
export type TArtistStatsResponse = z.infer<typeof ZArtistStatsResponse>;

export const ZQoeQuery = z.object({ window: ZChartWindow.default('1h') });
export const ZQoeRow = z.object({
  views: z.number().int(),
  startupP50Ms: z.number().nullable(),
  startupP95Ms: z.number().nullable(),
  rebufferRatio: z.number().nullable(),
  errorRate: z.number().nullable(),
});
export const ZQoeSummaryResponse = z.object({
  window: ZChartWindow,
  generatedAt: z.string().datetime(),
  overall: ZQoeRow,
  byEdge: z.array(ZQoeRow.extend({ edgeId: z.string() })),
  byRendition: z.array(ZQoeRow.extend({ codec: z.string(), bitrateKbps: z.number().int() })),
  /** Per-minute series over the window (oldest first), for the operators' dashboard. */
  series: z.array(ZQoeRow.extend({ minute: z.string() })),
});
export type TQoeSummaryResponse = z.infer<typeof ZQoeSummaryResponse>;
