/**
 * Test harness: real adapters for the analytics tests. chDB in its own data dir under os.tmpdir() (one
 * per test file, as chDB binds one dir per process), the memory bus or real Kafka (IT_KAFKA_BROKERS,
 * required when asked for), the memory cache, and PostgreSQL (IT_DATABASE_URL, else embedded) with
 * the catalog's migrations, for chart titles and artist ownership.
 */
import path from 'node:path';
import { tempDir } from '../../libs/media/test/fixtures';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { v7 as uuidv7 } from 'uuid';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { ClickHouseClient } from '@clickhouse/client';
import { loadConfig, type Config } from '@platform/config';
import { createLogger, type Logger } from '@platform/logging';
import { createMetricsRegistry, createServiceHttp } from '@platform/http';
import { createOlapClient } from '@platform/olap';
import { KafkaBus, MemoryBus, type Bus } from '@platform/bus';
import { MemoryCache, type Cache } from '@platform/cache';
import { createSqlDatabase, createTestDatabase, runMigrations, type SqlDatabase, type TestDatabase } from '@platform/sql';
import { catalogMigrations, type SessionUser } from '@platform/catalog';
import type { TBeaconEvent, TBeaconType } from '@platform/models';
import type { Registry } from 'prom-client';
import { analyticsRoutes, createAnalyticsConsumer, type AnalyticsConsumer, type AnalyticsConsumerOptions, type AnalyticsRoutesOptions } from '../src/index';

export type BusKind = 'memory' | 'kafka';

export function kafkaBrokers(): string[] {
  const v = process.env.IT_KAFKA_BROKERS;
  if (!v) throw new Error('IT_KAFKA_BROKERS is not set: run through `npm test` (it starts Kafka) or `source .infra/env` after infra/local/up.sh.');
  return v.split(',').map((s) => s.trim()).filter(Boolean);
}

/** A temporary directory, removed when the test process exits (KEEP_TEST_TMP=1 keeps it): the media fixtures' own. */
export const tmpDir = tempDir;

export function uniqueName(prefix: string): string {
  return `${prefix}.${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
}

export async function makeBus(kind: BusKind, logger: Logger, brokers?: string[]): Promise<Bus> {
  if (kind === 'memory') return new MemoryBus(logger, 4);
  const bus = new KafkaBus({ brokers: brokers ?? kafkaBrokers(), defaultPartitions: 4, clientId: 'analytics-test' }, logger);
  await bus.ping();
  return bus;
}

export interface Harness {
  config: Config;
  logger: Logger;
  metrics: Registry;
  olap: ClickHouseClient;
  bus: Bus;
  cache: Cache;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  sql: Kysely<any>;
  topic: string;
  groupId: string;
  app: FastifyInstance;
  url: string;
  consumer: AnalyticsConsumer | null;
  startConsumer(opts?: AnalyticsConsumerOptions): Promise<AnalyticsConsumer>;
  /** Signed-in user for the next requests (what the catalog's auth hook would set). */
  signIn(user: Partial<SessionUser> | null): void;
  close(): Promise<void>;
}

/** An SQL handle that connects only if used (tests that never touch PostgreSQL). */
function lazySql(): Kysely<unknown> {
  return new Kysely({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: 'postgres://unused@127.0.0.1:1/unused', max: 1 }) }) });
}

export async function startHarness(opts: {
  name: string;
  bus?: BusKind;
  /** Kafka brokers other than IT_KAFKA_BROKERS (a dedicated broker). */
  brokers?: string[];
  withSql?: boolean;
  routes?: AnalyticsRoutesOptions;
  consumer?: AnalyticsConsumerOptions | false;
}): Promise<Harness> {
  const dataDir = tmpDir(`analytics-${opts.name}`);
  const config = loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent' });
  const logger = createLogger({ name: `analytics-test-${opts.name}`, level: (process.env.TEST_LOG_LEVEL as 'info') ?? 'silent' });
  const metrics = createMetricsRegistry('analytics-test');
  const olap = await createOlapClient(config, logger, { embeddedPath: path.join(dataDir, 'clickhouse') });
  const bus = await makeBus(opts.bus ?? 'memory', logger, opts.brokers);
  const cache = new MemoryCache({});
  let sqlDb: SqlDatabase | null = null;
  let testDb: TestDatabase | null = null;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let db: Kysely<any> = lazySql();
  if (opts.withSql) {
    if (process.env.IT_DATABASE_URL) {
      testDb = await createTestDatabase(process.env.IT_DATABASE_URL, `analytics_${opts.name}`);
      sqlDb = await createSqlDatabase({ DATABASE_URL: testDb.url, dataDir }, logger);
    } else {
      sqlDb = await createSqlDatabase({ DATABASE_URL: undefined, dataDir }, logger, { database: 'analytics' });
    }
    db = sqlDb.db;
    await runMigrations(db, catalogMigrations);
  }
  const topic = uniqueName('playback.events.test');
  const groupId = uniqueName('analytics-writer-test');
  await bus.ensureTopic(topic, { partitions: 4 });

  let user: SessionUser | null = null;
  const { app } = createServiceHttp({ name: 'analytics-test', logger, registry: metrics });
  app.decorateRequest('user', null);
  app.addHook('onRequest', async (request) => {
    (request as { user: SessionUser | null }).user = user;
  });
  const deps = { config, logger, metrics, sql: db, olap, bus, cache };
  await app.register(analyticsRoutes(deps, { topic, ...opts.routes }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

  const h: Harness = {
    config,
    logger,
    metrics,
    olap,
    bus,
    cache,
    sql: db,
    topic,
    groupId,
    app,
    url,
    consumer: null,
    async startConsumer(copts = {}) {
      const c = await createAnalyticsConsumer(deps, { topic, groupId, lingerMs: 20, retryBackoffMs: 50, maxRetryBackoffMs: 500, ...copts });
      h.consumer = c;
      return c;
    },
    signIn(u) {
      user = u ? ({ id: uuidv7(), email: 'x@example.com', displayName: 'X', role: 'listener', artistId: null, sessionId: 's', via: 'cookie', ...u } as SessionUser) : null;
    },
    async close() {
      await app.close();
      await h.consumer?.stop().catch(() => undefined);
      await bus.close();
      await cache.close();
      await olap.close();
      if (sqlDb) await sqlDb.close();
      if (testDb) await testDb.drop();
    },
  };
  if (opts.consumer !== false) await h.startConsumer(opts.consumer || {});
  return h;
}

// ---- events ----

export function event(sessionId: string, trackId: string, type: TBeaconType, positionMs: number, extra: Partial<TBeaconEvent> = {}): TBeaconEvent {
  return { v: 1, eventId: uuidv7(), sessionId, trackId, type, ts: Date.now(), positionMs, ...extra };
}

/** A listening of `trackId` from 0 to `untilMs` with heartbeats every 10 s, optionally ended or skipped. */
export function listening(
  sessionId: string,
  trackId: string,
  opts: { untilMs: number; end?: 'ended' | 'skip'; ts?: number; rendition?: { codec: string; bitrateKbps: number }; edgeId?: string; startupMs?: number },
): TBeaconEvent[] {
  const ts = opts.ts ?? Date.now();
  const common = { ts, rendition: opts.rendition ?? { codec: 'aac', bitrateKbps: 128 }, edgeId: opts.edgeId ?? 'edge-1' };
  const out: TBeaconEvent[] = [
    event(sessionId, trackId, 'play_start', 0, common),
    event(sessionId, trackId, 'first_audio', 0, { ...common, startupMs: opts.startupMs ?? 250 }),
  ];
  let last = 0;
  for (let p = 10_000; p <= opts.untilMs; p += 10_000) {
    out.push(event(sessionId, trackId, 'heartbeat', p, { ...common, durationMs: 10_000 }));
    last = p;
  }
  if (opts.end) out.push(event(sessionId, trackId, opts.end, opts.untilMs, { ...common, durationMs: opts.untilMs - last }));
  return out;
}

export function sessionId(): string {
  return `s${randomBytes(8).toString('hex')}`;
}

export async function postBeacons(url: string, events: unknown[], init: { contentType?: string; raw?: string } = {}): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`${url}/api/beacons`, {
    method: 'POST',
    headers: { 'content-type': init.contentType ?? 'application/json' },
    body: init.raw ?? JSON.stringify({ events }),
  });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text);
  } catch {
    body = { text };
  }
  return { status: res.status, body, headers: res.headers };
}

/** Post events in batches of 100; returns how many were accepted (sum of 202 `accepted`). */
export async function postAll(url: string, events: TBeaconEvent[]): Promise<number> {
  let accepted = 0;
  for (let i = 0; i < events.length; i += 100) {
    const r = await postBeacons(url, events.slice(i, i + 100));
    if (r.status !== 202) throw new Error(`beacons answered ${r.status}: ${JSON.stringify(r.body)}`);
    accepted += Number(r.body.accepted);
  }
  return accepted;
}

export async function scalar(olap: ClickHouseClient, query: string): Promise<number> {
  const rs = await olap.query({ query, format: 'JSONEachRow' });
  const rows = await rs.json<Record<string, unknown>>();
  return Number(Object.values(rows[0] ?? { x: 0 })[0]);
}

/** Poll until `fn` returns true (no timed assertion: a generous deadline only to fail instead of hanging). */
export async function waitFor(what: string, fn: () => Promise<boolean>, deadlineMs = 60_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error(`gave up waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Until n distinct events are stored AND fed to the views (the consumer's two steps both done). */
export async function waitForEvents(olap: ClickHouseClient, n: number, deadlineMs?: number): Promise<void> {
  await waitFor(
    `${n} distinct events in ClickHouse, fed to the views`,
    async () => (await scalar(olap, 'SELECT uniqExact(eventId) FROM playback_events')) >= n && (await scalar(olap, 'SELECT sum(events) FROM qoe_1m')) >= n,
    deadlineMs,
  );
}

export async function seedCatalog(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  db: Kysely<any>,
  spec: { artist: string; owner?: string | null; tracks: Array<{ title: string; published?: boolean }> },
): Promise<{ artistId: string; ownerId: string | null; trackIds: string[] }> {
  let ownerId: string | null = null;
  if (spec.owner !== null) {
    const u = await db
      .insertInto('users')
      .values({ email: `${uniqueName('u')}@example.com`, password_hash: 'x', display_name: spec.owner ?? spec.artist, role: 'musician' })
      .returning('id')
      .executeTakeFirstOrThrow();
    ownerId = String(u.id);
  }
  const a = await db.insertInto('artists').values({ name: spec.artist, owner_user_id: ownerId }).returning('id').executeTakeFirstOrThrow();
  const trackIds: string[] = [];
  for (const t of spec.tracks) {
    const published = t.published !== false;
    const r = await db
      .insertInto('tracks')
      .values({
        artist_id: a.id,
        title: t.title,
        status: published ? 'ready' : 'processing',
        published_version: published ? 1 : null,
        published_at: published ? sql`now()` : null,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    trackIds.push(String(r.id));
  }
  return { artistId: String(a.id), ownerId, trackIds };
}

export { uuidv7 };
