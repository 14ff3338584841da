/**
 * A web app like the one on :8080 (createServiceHttp + the catalog's auth hook and routes + ingest's
 * routes) on a random port, against real components: IT_* services when set (npm test), else the
 * embedded defaults (embedded PostgreSQL, filesystem objects, in-process bus and cache).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { loadConfig } from '@platform/config';
import { createLogger } from '@platform/logging';
import { createServiceHttp } from '@platform/http';
import { createSqlDatabase, createTestDatabase, runMigrations, type SqlDatabase, type TestDatabase } from '@platform/sql';
import { createObjectStore } from '@platform/storage';
import { MemoryBus, KafkaBus, type Bus, type ReceivedMessage } from '@platform/bus';
import { MemoryCache, RedisCache, type Cache } from '@platform/cache';
import type { PlatformDeps } from '@platform/runtime';
import { authPlugin, catalogMigrations, catalogRoutes } from '@platform/catalog';
import type { ClickHouseClient } from '@clickhouse/client';
import { ingestRoutes, INGEST_TOPIC } from '../src/index';

export interface Account {
  email: string;
  cookie: string;
  csrf: string;
  token: string;
  userId: string;
}

export interface TestApp {
  base: string;
  deps: PlatformDeps;
  dataDir: string;
  /** The ingest jobs topic this app produces to. */
  topic: string;
  /** Jobs seen on ingest.jobs since start. */
  jobs: ReceivedMessage[];
  waitForJob(trackId: string, version?: number, timeoutMs?: number): Promise<Record<string, unknown>>;
  signup(role: 'musician' | 'listener', name?: string): Promise<Account>;
  close(): Promise<void>;
}

const env = process.env;

export async function startTestApp(opts: { uploadMaxBytes?: string; name: string }): Promise<TestApp> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), `ingest-${opts.name}-`));
  const config = loadConfig({
    DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    UPLOAD_MAX_BYTES: opts.uploadMaxBytes ?? '2GiB',
    S3_ENDPOINT: env.IT_S3_ENDPOINT,
    S3_ACCESS_KEY: env.IT_S3_ACCESS_KEY,
    S3_SECRET_KEY: env.IT_S3_SECRET_KEY,
    S3_BUCKET: env.IT_S3_BUCKET,
  });
  const logger = createLogger({ name: `ingest-test-${opts.name}`, level: (env.TEST_LOG_LEVEL as 'silent' | undefined) ?? 'silent' });
  const metrics = new Registry();

  let testDb: TestDatabase | undefined;
  let sqlDb: SqlDatabase;
  if (env.IT_DATABASE_URL) {
    testDb = await createTestDatabase(env.IT_DATABASE_URL, `ingest_${opts.name}`);
    sqlDb = await createSqlDatabase({ DATABASE_URL: testDb.url, dataDir }, logger, { maxConnections: 5 });
  } else {
    sqlDb = await createSqlDatabase({ DATABASE_URL: undefined, dataDir }, logger, { maxConnections: 5, database: 'ingest_test' });
  }
  await runMigrations(sqlDb.db, catalogMigrations);

  const objects = await createObjectStore(config);
  const prefix = `it-ingest-${opts.name}-${randomBytes(4).toString('hex')}:`;
  const cache: Cache = env.IT_REDIS_URL ? await new RedisCache(env.IT_REDIS_URL, { keyPrefix: prefix }).connect() : new MemoryCache({});
  const bus: Bus = env.IT_KAFKA_BROKERS ? new KafkaBus({ brokers: env.IT_KAFKA_BROKERS.split(','), clientId: prefix.slice(0, -1) }, logger) : new MemoryBus(logger, 2);

  const deps: PlatformDeps = { config, logger, metrics, sql: sqlDb.db, olap: undefined as unknown as ClickHouseClient, objects, bus, cache };
  const jobs: ReceivedMessage[] = [];
  // Own topic per test file: on a shared Kafka no other file's workers see these jobs.
  const topic = env.IT_KAFKA_BROKERS ? `${INGEST_TOPIC}.${prefix.slice(0, -1)}` : INGEST_TOPIC;
  await bus.ensureTopic(topic);
  const consumer = await bus.subscribe({
    topic,
    groupId: `${prefix}jobs`,
    fromBeginning: false,
    eachBatch: async (messages) => {
      jobs.push(...messages);
    },
  });

  const { app } = createServiceHttp({ name: 'web', logger, registry: metrics });
  await app.register(authPlugin(deps));
  await app.register(catalogRoutes(deps));
  await app.register(ingestRoutes(deps, { jobsTopic: topic }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

  const waitForJob = async (trackId: string, version = 1, timeoutMs = 30_000) => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const m = jobs.find((j) => j.key === trackId && (JSON.parse(j.value.toString('utf8')) as { version: number }).version === version);
      if (m) return JSON.parse(m.value.toString('utf8')) as Record<string, unknown>;
      if (Date.now() > until) throw new Error(`no job for track ${trackId} v${version} on ${INGEST_TOPIC} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  let n = 0;
  const signup = async (role: 'musician' | 'listener', name = `${role} ${++n}`): Promise<Account> => {
    const email = `${role}-${randomBytes(5).toString('hex')}@example.test`;
    const res = await fetch(`${base}/api/auth/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: 'correct horse battery staple', displayName: name, role }),
    });
    if (res.status !== 201) throw new Error(`signup failed: ${res.status} ${await res.text()}`);
    const me = (await res.json()) as { id?: string; user?: { id: string } };
    const cookies = res.headers.getSetCookie().map((c) => c.split(';')[0]);
    const csrf = cookies.find((c) => c.startsWith('csrf='))!.slice(5);
    const cookie = cookies.join('; ');
    const t = await fetch(`${base}/api/auth/tokens`, { method: 'POST', headers: { 'content-type': 'application/json', cookie, 'x-csrf-token': csrf }, body: JSON.stringify({ name: 'test' }) });
    if (t.status !== 201) throw new Error(`token failed: ${t.status} ${await t.text()}`);
    const { token } = (await t.json()) as { token: string };
    return { email, cookie, csrf, token, userId: me.id ?? me.user?.id ?? '' };
  };

  return {
    base,
    deps,
    dataDir,
    topic,
    jobs,
    waitForJob,
    signup,
    close: async () => {
      await app.close();
      await consumer.stop().catch(() => undefined);
      await bus.close().catch(() => undefined);
      await cache.close().catch(() => undefined);
      await objects.close().catch(() => undefined);
      await sqlDb.close();
      await testDb?.drop().catch(() => undefined);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** multipart body from files on disk (Blob backed by the file, streamed by fetch). */
export async function form(fields: Record<string, string | undefined>, files: Record<string, string | undefined> = {}): Promise<FormData> {
  const { openAsBlob } = await import('node:fs');
  const fd = new FormData();
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) fd.append(k, v);
  for (const [k, p] of Object.entries(files)) if (p) fd.append(k, await openAsBlob(p), path.basename(p));
  return fd;
}
