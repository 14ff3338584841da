/**
 * Packager test harness: real PostgreSQL (IT_DATABASE_URL when set, else embedded), the real
 * filesystem ObjectStore, the in-process bus and cache (the embedded defaults), catalog migrations,
 * and helpers to create a track with its original in storage and to wait for its status.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { loadConfig } from '@platform/config';
import { createLogger, type Logger } from '@platform/logging';
import { createMetricsRegistry } from '@platform/http';
import { createSqlDatabase, createTestDatabase, runMigrations, type SqlDatabase } from '@platform/sql';
import { FsObjectStore, type ObjectStore } from '@platform/storage';
import { MemoryBus } from '@platform/bus';
import { MemoryCache } from '@platform/cache';
import { catalogMigrations, createTrack, getTrack, type TrackRecord } from '@platform/catalog';
import { INGEST_JOBS_TOPIC, type TIngestJob } from '@platform/models';
import type { Registry } from 'prom-client';
import type { PackagerDeps } from '../src/index';

export interface Harness {
  deps: PackagerDeps & { objects: ObjectStore; bus: MemoryBus; cache: MemoryCache };
  logger: Logger;
  registry: Registry;
  dir: string;
  /** A track row in `processing` plus its original under originals/, and the job that would be sent. */
  addTrack(file: string, format: 'wav' | 'flac', opts?: { title?: string; downmix?: boolean }): Promise<TIngestJob>;
  send(job: TIngestJob): Promise<void>;
  waitForStatus(trackId: string, status: 'ready' | 'failed', timeoutMs?: number, pollMs?: number): Promise<TrackRecord>;
  close(): Promise<void>;
}

/** Tests package with 2 s segments (fewer seconds of audio per case); the benchmark uses the production default. */
export async function startHarness(name: string, opts: { segmentDurationS?: number } = {}): Promise<Harness> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `packager-${name}-`));
  const logger = createLogger({ name: `packager-test-${name}`, level: (process.env.TEST_LOG_LEVEL as 'silent') ?? 'silent' });
  const registry = createMetricsRegistry(`packager-test-${name}`);
  const cleanups: Array<() => Promise<unknown>> = [];
  let sql: SqlDatabase;
  if (process.env.IT_DATABASE_URL) {
    const tdb = await createTestDatabase(process.env.IT_DATABASE_URL, `packager_${name}`);
    cleanups.push(() => tdb.drop());
    sql = await createSqlDatabase(loadConfig({ DATABASE_URL: tdb.url }), logger);
  } else {
    sql = await createSqlDatabase(loadConfig({ DATA_DIR: path.join(dir, 'data') }), logger, { database: 'packager' });
  }
  cleanups.push(() => sql.close());
  await runMigrations(sql.db, catalogMigrations);
  const objects = new FsObjectStore(path.join(dir, 'objects'));
  await objects.ping();
  const bus = new MemoryBus(logger, 3);
  const cache = new MemoryCache();
  cleanups.push(() => bus.close(), () => cache.close(), () => objects.close());
  const config = loadConfig({ DATA_DIR: path.join(dir, 'data'), SEGMENT_DURATION_S: String(opts.segmentDurationS ?? 2) });
  const deps = { config, logger, metrics: registry, sql: sql.db, objects, bus, cache };

  return {
    deps,
    logger,
    registry,
    dir,
    async addTrack(file, format, opts = {}) {
      const trackId = randomUUID();
      const originalKey = `originals/${trackId}/${randomUUID()}.${format}`;
      await objects.putFile(originalKey, file);
      const t = await createTrack(sql.db, { id: trackId, artistName: 'Test Artist', ownerUserId: null, title: opts.title ?? 'Test', originalKey });
      return {
        v: 1, trackId, version: t.version, originalKey, uploadedBy: 'test-user', requestedAt: new Date().toISOString(),
        source: { format, downmix: opts.downmix ?? false },
      };
    },
    async send(job) {
      await bus.send(INGEST_JOBS_TOPIC, [{ key: job.trackId, value: JSON.stringify(job) }]);
    },
    async waitForStatus(trackId, status, timeoutMs = 120_000, pollMs = 100) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const t = await getTrack(sql.db, trackId);
        if (t?.status === status) return t;
        if (t && t.status !== 'processing' && t.status !== status) {
          throw new Error(`track ${trackId} became ${t.status} (${t.errorCode}: ${t.errorDetail}), expected ${status}`);
        }
        if (Date.now() > deadline) throw new Error(`track ${trackId} still ${t?.status} after ${timeoutMs} ms, expected ${status}`);
        await new Promise((r) => setTimeout(r, pollMs));
      }
    },
    async close() {
      for (const c of cleanups.reverse()) await c().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Copy every object under a prefix to a local folder (to check the stored package as a player would). */
export async function downloadPrefix(objects: ObjectStore, prefix: string, dest: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of objects.list(prefix)) {
    keys.push(o.key);
    await objects.getFile(o.key, path.join(dest, o.key.slice(prefix.length)));
  }
  return keys;
}
