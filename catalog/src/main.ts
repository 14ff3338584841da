/** Run the catalog alone: `node --import tsx catalog/src/main.ts` (config from the environment, CONTRACT.md). */
import { loadConfigOrExit } from '@platform/config';
import { createLogger } from '@platform/logging';
import { createMetricsRegistry } from '@platform/http';
import { createDeps } from '@platform/runtime';
import { catalogMigrations } from './db/migrations';
import { createCatalogServer } from './server';

const config = loadConfigOrExit();
const logger = createLogger({ name: 'catalog', level: config.LOG_LEVEL });
const deps = await createDeps(config, logger, { metrics: createMetricsRegistry('catalog'), migrations: catalogMigrations });
const server = await createCatalogServer(deps, { readiness: deps.readiness });
await server.app.listen({ host: config.HOST, port: config.WEB_PORT });

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'catalog: stopping');
    void server
      .close()
      .then(() => deps.close())
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        logger.error({ err }, 'catalog: unclean stop');
        process.exit(1);
      });
  });
}
