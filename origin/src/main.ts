/** Run the origin alone: `node --import tsx origin/src/main.ts` (reads the CONTRACT's env). */
import { loadConfigOrExit } from '@platform/config';
import { createLogger } from '@platform/logging';
import { createMetricsRegistry } from '@platform/http';
import { createObjectStore } from '@platform/storage';
import { createOriginServer } from './server';

const config = loadConfigOrExit();
const logger = createLogger({ name: 'origin', level: config.LOG_LEVEL });
const objects = await createObjectStore(config);
const origin = createOriginServer({ config, logger, metrics: createMetricsRegistry('origin'), objects });
const server = await origin.listen();
logger.info({ address: server.address() }, 'origin listening');

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    logger.info({ signal }, 'origin stopping');
    void origin.close().then(() => objects.close()).finally(() => process.exit(0));
  });
}
