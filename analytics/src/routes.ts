/**
 * `analyticsRoutes(deps)`: the beacon collector (`POST /api/beacons`) and the read APIs (charts, trending,
 * artist stats, QoE). A plain (encapsulated) Fastify plugin: its text/plain handling and hooks stay
 * inside it. Titles and artists come from PostgreSQL (published tracks only); numbers from ClickHouse.
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { sql } from 'kysely';
import { AppError } from '@platform/errors';
import { parseOr400, validationError } from '@platform/http';
import type { PlatformDeps } from '@platform/runtime';
import type { SessionUser } from '@platform/catalog';
import {
  BEACON_MAX_BYTES,
  PLAYBACK_EVENTS_TOPIC,
  ZArtistStatsQuery,
  ZBeaconBatch,
  ZQoeQuery,
  ZTopChartQuery,
  ZTrendingQuery,
  type TArtistStatsResponse,
  type TBeaconAccepted,
  type TQoeSummaryResponse,
  type TTopChartResponse,
  type TTrendingResponse,
} from '@platform/models';
import { z } from 'zod';
import { analyticsMetrics } from './metrics';
import { allowSession, BeaconProducer, toEnvelopesInPlace, validateEvents, type CollectorOptions } from './collector';
import { ensureAnalyticsSchema } from './schema';
import { artistTrackStats, chartTop, qoeSummary, trendingTrackIds } from './queries';

export interface AnalyticsRoutesOptions extends Partial<CollectorOptions> {
  /**
   * Who may read `GET /api/qoe/summary`: `admin` (default with an external PostgreSQL), or
   * `signed-in` (default on embedded defaults, where the person running `npm start` may well have no
   * admin account yet). Operators of a shared install set DATABASE_URL and get `admin`.
   */
  qoeAccess?: 'admin' | 'signed-in';
  /**
   * Serve charts from the cache adapter, refreshed in the background (default true): fresh for 1 s
   * (windows up to 15m) to 5 min (30d), then served stale for up to 10x that while one refresh runs.
   */
  chartCache?: boolean;
  /** Apply the ClickHouse schema when the plugin registers (default true). */
  migrate?: boolean;
  /** How long closing the server may spend handing buffered beacons to the bus (default 5 s). */
  closeTimeoutMs?: number;
  /** Called with the producer so an owner (main.ts, tests) can drain it on shutdown. */
  onProducer?: (p: BeaconProducer) => void;
}

type Deps = Pick<PlatformDeps, 'config' | 'logger' | 'metrics' | 'sql' | 'olap' | 'bus' | 'cache'>;

const ZArtistParams = z.object({ id: z.string().uuid('must be an artist id (UUID)') });

function userOf(request: FastifyRequest): SessionUser | null {
  return (request as { user?: SessionUser | null }).user ?? null;
}

/** How long a chart answer stays fresh, per window: short windows move fast, a 7-day chart does not. */
const CHART_FRESH_MS: Record<string, number> = {
  '1m': 1000, '5m': 1000, '15m': 1000, '30m': 2000, '1h': 5000, '3h': 15_000, '6h': 30_000, '12h': 30_000, '24h': 30_000, '7d': 120_000, '30d': 300_000,
};

interface TrackInfo {
  id: string;
  title: string;
  artist: string;
}

export function analyticsRoutes(deps: Deps, options: AnalyticsRoutesOptions = {}): FastifyPluginAsync {
  return async (app: FastifyInstance) => {
    const m = analyticsMetrics(deps.metrics);
    const topic = options.topic ?? PLAYBACK_EVENTS_TOPIC;
    const perMinute = options.sessionRequestsPerMinute ?? 120;
    const qoeAccess = options.qoeAccess ?? (deps.config.DATABASE_URL ? 'admin' : 'signed-in');
    if (options.migrate !== false) await ensureAnalyticsSchema(deps.olap, deps.logger);
    const producer = new BeaconProducer(deps.bus, topic, deps.logger.child({ component: 'beacon-collector' }), m, { topic, ...options });
    options.onProducer?.(producer);
    app.addHook('onClose', async () => {
      await producer.close(options.closeTimeoutMs ?? 5000);
    });

    // navigator.sendBeacon sends a string body as text/plain: parse it ourselves (scoped to this plugin).
    app.removeContentTypeParser('text/plain');
    app.addContentTypeParser('text/plain', { parseAs: 'string', bodyLimit: BEACON_MAX_BYTES }, (_req, body, done) => {
      try {
        done(null, JSON.parse(body as string));
      } catch {
        done(new AppError('bad_request', 'The beacon body is not JSON: send {"events": [...]}.'), undefined);
      }
    });

    /** Published tracks by id, with their artist's name. */
    async function trackInfo(ids: string[]): Promise<Map<string, TrackInfo>> {
      const uuids = ids.filter((id) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id));
      if (uuids.length === 0) return new Map();
      const r = await deps.sql
        .selectFrom('tracks')
        .innerJoin('artists', 'artists.id', 'tracks.artist_id')
        .select(['tracks.id as id', 'tracks.title as title', 'artists.name as artist'])
        .where('tracks.id', 'in', uuids)
        .where('tracks.published_version', 'is not', null)
        .execute();
      return new Map(r.map((t: TrackInfo) => [String(t.id), { id: String(t.id), title: t.title, artist: t.artist }]));
    }

    // Stale-while-revalidate over the shared cache, with one computation per key per process at a time.
    const inflight = new Map<string, Promise<unknown>>();
    async function cachedChart<T extends { generatedAt: string }>(key: string, freshMs: number, compute: () => Promise<T>): Promise<T> {
      const refresh = () => {
        let p = inflight.get(key) as Promise<T> | undefined;
        if (!p) {
          p = compute()
            .then(async (body) => {
              await deps.cache.set(key, JSON.stringify(body), freshMs * 10).catch(() => undefined);
              return body;
            })
            .finally(() => inflight.delete(key));
          inflight.set(key, p);
        }
        return p;
      };
      if (options.chartCache === false) return compute();
      const hit = await deps.cache.get(key).catch(() => null);
      if (hit) {
        const body = JSON.parse(hit) as T;
        if (Date.now() - Date.parse(body.generatedAt) > freshMs) refresh().catch((e) => deps.logger.warn({ err: e, key }, 'chart refresh failed'));
        return body;
      }
      return refresh();
    }

    async function guarded<T>(route: string, fn: () => Promise<T>): Promise<T> {
      try {
        return await fn();
      } catch (e) {
        if (e instanceof AppError) throw e;
        m.queryFailures.inc({ route });
        deps.logger.warn({ err: e, route }, 'analytics query failed');
        throw new AppError('unavailable', 'Analytics are unavailable right now; try again in a minute.', { retryAfter: 30, cause: e });
      }
    }

    app.post('/api/beacons', { bodyLimit: BEACON_MAX_BYTES, config: { csrf: false } }, async (request, reply) => {
      const now = Date.now();
      const batch = ZBeaconBatch.safeParse(request.body);
      if (!batch.success) {
        m.beaconRequests.inc({ outcome: 'invalid' });
        throw validationError(batch.error);
      }
      const { valid, dropped, firstIssue } = validateEvents(batch.data.events, now);
      // Rate limit per session (usually one session per request).
      const sessions = [...new Set(valid.map((e) => e.sessionId))];
      const allowed = new Set<string>();
      for (const s of sessions) if (await allowSession(deps.cache, s, perMinute, now)) allowed.add(s);
      const events = valid.filter((e) => allowed.has(e.sessionId));
      if (events.length < valid.length) dropped.rate_limited = valid.length - events.length;
      const rejected = batch.data.events.length - events.length;
      for (const [reason, n] of Object.entries(dropped)) if (n) m.beaconEvents.inc({ outcome: reason }, n);

      if (events.length === 0) {
        if (valid.length > 0) {
          m.beaconRequests.inc({ outcome: 'rate_limited' });
          throw new AppError('rate_limited', 'This listening session sends beacons too often; wait a minute.', { retryAfter: 60 });
        }
        m.beaconRequests.inc({ outcome: 'invalid' });
        throw new AppError('validation_failed', `No valid event in the batch (${firstIssue ?? 'see the beacon schema'}).`);
      }
      const envelopes = toEnvelopesInPlace(events, now, userOf(request)?.id ?? null);
      const outcome = await producer.submit(
        envelopes.map((env) => ({ key: env.sessionId, value: JSON.stringify(env) })),
        events.length,
      );
      if (outcome === 'refused') {
        m.beaconRequests.inc({ outcome: 'refused' });
        m.beaconEvents.inc({ outcome: 'refused' }, events.length);
        throw new AppError('unavailable', 'The event pipeline is backed up; send these events again later.', { retryAfter: 5 });
      }
      m.beaconRequests.inc({ outcome });
      m.beaconEvents.inc({ outcome: 'accepted' }, events.length);
      const body: TBeaconAccepted = { accepted: events.length, rejected, buffered: outcome === 'buffered' };
      reply.code(202);
      return body;
    });

    app.get('/api/charts/top', async (request) => {
      const q = parseOr400(ZTopChartQuery, request.query, 'query');
      return guarded('top', () => cachedChart(`analytics:charts:top:${q.window}:${q.limit}`, CHART_FRESH_MS[q.window], async () => {
        // Over-fetch: tracks unpublished or deleted since their plays drop out after the lookup. The window's
        // newest snapshot (exact as of its time, which generatedAt reports), live when it is overdue.
        const ranked = await chartTop(deps.olap, q.window, Math.min(q.limit * 2 + 10, 500));
        const info = await trackInfo(ranked.tracks.map((r) => r.trackId));
        const tracks = ranked.tracks
          .filter((r) => info.has(r.trackId))
          .slice(0, q.limit)
          .map((r) => ({ ...info.get(r.trackId)!, plays: r.plays }));
        const body: TTopChartResponse = { window: q.window, generatedAt: new Date(ranked.asOf).toISOString(), tracks };
        return body;
      }));
    });

    app.get('/api/charts/trending', async (request) => {
      const q = parseOr400(ZTrendingQuery, request.query, 'query');
      const baselineDays = 7;
      return guarded('trending', () => cachedChart(`analytics:charts:trending:${q.window}:${q.limit}`, CHART_FRESH_MS[q.window], async () => {
        const ranked = await trendingTrackIds(deps.olap, { window: q.window, limit: Math.min(q.limit * 2 + 10, 500), baselineDays, minPlays: 3 });
        const info = await trackInfo(ranked.map((r) => r.trackId));
        const tracks = ranked
          .filter((r) => info.has(r.trackId))
          .slice(0, q.limit)
          .map((r) => ({ ...info.get(r.trackId)!, plays: r.plays, expected: r.expected, velocity: r.velocity }));
        const body: TTrendingResponse = { window: q.window, baselineDays, generatedAt: new Date().toISOString(), tracks };
        return body;
      }));
    });

    // Artist stats are the artist's business: their owner (the musician account) or an admin.
    app.get('/api/artists/:id/stats', async (request) => {
      const { id } = parseOr400(ZArtistParams, request.params, 'params');
      const q = parseOr400(ZArtistStatsQuery, request.query, 'query');
      const user = userOf(request);
      if (!user) throw new AppError('unauthenticated', 'Sign in as the artist (or an admin) to see these statistics.');
      const artist = await deps.sql.selectFrom('artists').select(['id', 'owner_user_id']).where('id', '=', id).executeTakeFirst();
      if (!artist) throw new AppError('not_found', 'No artist with this id.');
      if (user.role !== 'admin' && artist.owner_user_id !== user.id) {
        throw new AppError('forbidden', "Only the artist's own account or an admin can see these statistics.");
      }
      const trackRows: Array<{ id: string; title: string }> = await deps.sql
        .selectFrom('tracks')
        .select(['id', 'title'])
        .where('artist_id', '=', id)
        .where(sql<boolean>`published_version is not null`)
        .orderBy('created_at')
        .execute();
      return guarded('artist_stats', async () => {
        const s = await artistTrackStats(deps.olap, trackRows.map((t) => String(t.id)), q.days);
        const byId = new Map(s.tracks.map((t) => [t.trackId, t]));
        const rate = (n: number, d: number) => (d > 0 ? Math.round((n / d) * 10_000) / 10_000 : null);
        const tracks = trackRows.map((t) => {
          const x = byId.get(String(t.id)) ?? { plays: 0, uniqueListeners: 0, views: 0, completed: 0, skips: 0 };
          return {
            id: String(t.id),
            title: t.title,
            plays: x.plays,
            uniqueListeners: x.uniqueListeners,
            views: x.views,
            completionRate: rate(x.completed, x.views),
            skipRate: rate(x.skips, x.views),
          };
        });
        const sum = (k: 'plays' | 'views' | 'completed' | 'skips') => s.tracks.reduce((n, t) => n + t[k], 0);
        const body: TArtistStatsResponse = {
          artistId: id,
          days: q.days,
          generatedAt: new Date().toISOString(),
          totals: {
            plays: sum('plays'),
            uniqueListeners: s.uniqueListeners,
            views: sum('views'),
            completionRate: rate(sum('completed'), sum('views')),
            skipRate: rate(sum('skips'), sum('views')),
          },
          daily: s.daily,
          tracks,
        };
        return body;
      });
    });

    app.get('/api/qoe/summary', async (request) => {
      const q = parseOr400(ZQoeQuery, request.query, 'query');
      const user = userOf(request);
      if (!user) throw new AppError('unauthenticated', 'Sign in to see playback quality.');
      if (qoeAccess === 'admin' && user.role !== 'admin') throw new AppError('forbidden', 'Playback quality is for operators: this needs an admin account.');
      return guarded('qoe', async () => {
        const s = await qoeSummary(deps.olap, q.window);
        const body: TQoeSummaryResponse = { window: q.window, generatedAt: new Date().toISOString(), ...s };
        return body;
      });
    });
  };
}
