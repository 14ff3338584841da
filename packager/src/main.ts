/**
 * Run packager workers alone: `node --import tsx packager/src/main.ts`. Reads the CONTRACT's env;
 * PACKAGER_CONCURRENCY jobs at once (one core each). Useful with KAFKA_BROKERS (with the in-process
 * bus only this process could send it jobs). Serves /healthz /readyz /metrics on PACKAGER_HTTP_PORT
 * (default: a free port, logged).
 */
import { loadConfigOrExit } from '@platform/config';
import { createLogger } from '@platform/logging';
import { createMetricsRegistry, createServiceHttp } from '@platform/http';
import { createObjectStore } from '@platform/storage';
import { createBus } from '@platform/bus';
import { createCache } from '@platform/cache';
import { createSqlDatabase } from '@platform/sql';
import { createPackagerWorker } from './worker';

const config = loadConfigOrExit();
const logger = createLogger({ name: 'packager', level: config.LOG_LEVEL });
const registry = createMetricsRegistry('packager');
const objects = await createObjectStore(config);
const bus = await createBus(config, logger, { clientId: 'packager' });
const cache = await createCache(config);
const sql = await createSqlDatabase(config, logger, { maxConnections: Math.max(2, config.PACKAGER_CONCURRENCY + 1) });
if (bus.kind === 'memory') logger.warn('KAFKA_BROKERS is not set: this packager only sees jobs sent inside this process');

const worker = createPackagerWorker({ config, logger, metrics: registry, sql: sql.db, objects, bus, cache });
await worker.start();

const { app } = createServiceHttp({
  name: 'packager',
  logger,
  registry,
  readiness: { storage: () => objects.ping(), bus: () => bus.ping(), cache: () => cache.ping(), sql: async () => void (await sql.pool.query('SELECT 1')) },
});
const port = Number(process.env.PACKAGER_HTTP_PORT ?? 0);
await app.listen({ host: config.HOST, port: Number.isInteger(port) ? port : 0 });
logger.info({ address: app.server.address(), concurrency: config.PACKAGER_CONCURRENCY }, 'packager running');

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    logger.info({ signal }, 'packager stopping');
    // Jobs in flight are aborted and stay uncommitted: another worker (or this one restarted) redoes them.
    void worker
      .stop({ abort: true })
      .then(() => app.close())
      .then(() => Promise.all([bus.close(), cache.close(), objects.close(), sql.close()]))
      .finally(() => process.exit(0));
  });
}
