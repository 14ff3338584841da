/**
 * Run the upload API alone: `node --import tsx ingest/src/main.ts` (auth + ingest routes, no
 * player, no catalog browsing) on INGEST_HTTP_PORT (default: a free port, logged). Meant for a
 * scaled-out upload tier against shared engines (DATABASE_URL, KAFKA_BROKERS, S3_*, REDIS_URL);
 * the all-in-one web process on :8080 serves the same routes already.
 */
import { loadConfigOrExit } from '@platform/config';
import { createLogger } from '@platform/logging';
import { createMetricsRegistry, createServiceHttp } from '@platform/http';
import { createObjectStore } from '@platform/storage';
import { createBus } from '@platform/bus';
import { createCache } from '@platform/cache';
import { createSqlDatabase, runMigrations } from '@platform/sql';
import type { PlatformDeps } from '@platform/runtime';
import { authPlugin, catalogMigrations } from '@platform/catalog';
import { ingestRoutes } from './routes';

const config = loadConfigOrExit();
const logger = createLogger({ name: 'ingest', level: config.LOG_LEVEL });
const metrics = createMetricsRegistry('ingest');
const objects = await createObjectStore(config);
const bus = await createBus(config, logger, { clientId: 'ingest' });
const cache = await createCache(config);
const sql = await createSqlDatabase(config, logger);
// Safe alongside other processes: the migrator serialises on a lock and skips what is applied.
await runMigrations(sql.db, catalogMigrations);
if (bus.kind === 'memory') logger.warn('KAFKA_BROKERS is not set: jobs from this process reach only workers inside it');
if (cache.kind === 'memory') logger.warn('REDIS_URL is not set: sessions made by other web processes are unknown here (use API tokens)');

// The upload API never touches the analytics store; not opening it keeps an embedded chDB free for its owner.
const deps: PlatformDeps = { config, logger, metrics, sql: sql.db, olap: undefined as never, objects, bus, cache };
const { app } = createServiceHttp({
  name: 'ingest',
  logger,
  registry: metrics,
  readiness: { storage: () => objects.ping(), bus: () => bus.ping(), cache: () => cache.ping(), sql: async () => void (await sql.pool.query('SELECT 1')) },
});
await app.register(authPlugin(deps));
await app.register(ingestRoutes(deps));
const port = Number(process.env.INGEST_HTTP_PORT ?? 0);
await app.listen({ host: config.HOST, port: Number.isInteger(port) ? port : 0 });
logger.info({ address: app.server.address() }, 'ingest upload API running');

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    logger.info({ signal }, 'ingest stopping');
    void (async () => {
      await app.close();
      await Promise.allSettled([bus.close(), cache.close(), objects.close()]);
      await sql.close();
      process.exit(0);
    })();
  });
}
