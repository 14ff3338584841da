/**
 * Wires the adapters once per process from config: SQL, analytics store, objects, cache, bus. Each one is
 * the real component when its variable is set, else the embedded default. close() stops them in reverse
 * order of start (consumers first, engines last), and `readiness` gives /readyz one check per dependency.
 */
import path from 'node:path';
import type { Config } from '@platform/config';
import type { Logger } from '@platform/logging';
import type { Registry } from 'prom-client';
import { createMetricsRegistry } from '@platform/http';
import { createSqlDatabase, runMigrations, type MigrationsSource, type SqlDatabase } from '@platform/sql';
import { createOlapClient, pingOlap } from '@platform/olap';
import { createObjectStore } from '@platform/storage';
import { createBus } from '@platform/bus';
import { createCache } from '@platform/cache';
import type { PlatformDeps } from './types';

export * from './types';

export type ReadinessChecks = Record<'postgres' | 'clickhouse' | 'objects' | 'bus' | 'cache', () => Promise<void>>;

export interface RuntimeDeps extends PlatformDeps {
  /** The SQL handle behind `sql` (pool, URL, whether it is embedded). */
  sqlDatabase: SqlDatabase;
  /** One check per dependency for /readyz; each throws when it does not answer. */
  readiness: ReadinessChecks;
  /** Stops consumers, closes pools and clients, stops embedded engines; safe to call twice. */
  close(): Promise<void>;
}

export interface CreateDepsOptions {
  /** Registry for the process's metrics (default: a new one). */
  metrics?: Registry;
  /** Migrations to apply at start (the catalog's schema). */
  migrations?: MigrationsSource;
}

export async function createDeps(config: Config, logger: Logger, opts: CreateDepsOptions = {}): Promise<RuntimeDeps> {
  const closers: { name: string; close: () => Promise<void> }[] = [];
  const closeAll = async () => {
    for (const c of closers.splice(0).reverse()) {
      try {
        await c.close();
      } catch (err) {
        logger.warn({ err, adapter: c.name }, 'error while closing adapter');
      }
    }
  };
  try {
    const sqlDatabase = await createSqlDatabase(config, logger);
    closers.push({ name: 'postgres', close: () => sqlDatabase.close() });
    if (opts.migrations) {
      const results = await runMigrations(sqlDatabase.db, opts.migrations);
      const applied = results.filter((r) => r.status === 'Success').map((r) => r.migrationName);
      if (applied.length) logger.info({ applied }, 'postgres: migrations applied');
    }
    const olap = await createOlapClient(config, logger);
    closers.push({ name: 'clickhouse', close: () => olap.close() });
    const objects = await createObjectStore(config);
    closers.push({ name: 'objects', close: () => objects.close() });
    // Embedded mode keeps sessions and login rate-limit windows across restarts (catalog/src/auth.ts
    // names these keys); with Redis they live in Redis.
    const cache = await createCache(config, {
      persist: { file: path.join(config.dataDir, 'cache', 'sessions.json'), keyPrefixes: ['catalog:sess:', 'catalog:user-sessions:', 'catalog:rl:'] },
    });
    closers.push({ name: 'cache', close: () => cache.close() });
    const bus = await createBus(config, logger);
    closers.push({ name: 'bus', close: () => bus.close() });
    logger.info(
      { sql: sqlDatabase.isEmbedded ? 'embedded' : 'server', olap: config.CLICKHOUSE_URL ? 'server' : 'embedded', objects: objects.kind, cache: cache.kind, bus: bus.kind },
      'adapters ready',
    );

    let closing: Promise<void> | undefined;
    return {
      config,
      logger,
      metrics: opts.metrics ?? createMetricsRegistry('platform'),
      sql: sqlDatabase.db,
      sqlDatabase,
      olap,
      objects,
      bus,
      cache,
      readiness: {
        postgres: async () => {
          await sqlDatabase.pool.query('SELECT 1');
        },
        clickhouse: () => pingOlap(olap),
        objects: () => objects.ping(),
        bus: () => bus.ping(),
        cache: () => cache.ping(),
      },
      close: () => (closing ??= closeAll()),
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}
