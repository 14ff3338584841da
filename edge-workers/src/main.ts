/** Run one edge alone: `node --import tsx edge-workers/src/main.ts` (reads the CONTRACT's env). */
import { loadConfigOrExit } from '@platform/config';
import { createLogger } from '@platform/logging';
import { createMetricsRegistry } from '@platform/http';
import { createEdgeServer } from './edge-server';

const config = loadConfigOrExit();
const logger = createLogger({ name: 'edge', level: config.LOG_LEVEL });
const edge = createEdgeServer({ config, logger, metrics: createMetricsRegistry('edge') });
const server = await edge.listen();
logger.info({ address: server.address(), parents: config.EDGE_PARENTS ?? [] }, 'edge listening');

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    logger.info({ signal }, 'edge stopping');
    void edge.close().finally(() => process.exit(0));
  });
}
