/** Run one edge alone: `node --import tsx edge-workers/src/main.ts` (reads the CONTRACT's env). */
import { loadConfigOrExit } from '@platform/config';
import { createBufferedLogger } from '@platform/logging';
import { createMetricsRegistry } from '@platform/http';
import { createEdgeServer } from './edge-server';

const config = loadConfigOrExit();
// Batched stdout writes: at one access-log line per 100 hits, a write per line was the largest cost
// the edge adds to a cached hit (a thread-pool hop per line); lines now reach stdout within 1 s.
const { logger, flush } = createBufferedLogger({ name: 'edge', level: config.LOG_LEVEL });
const edge = createEdgeServer({ config, logger, metrics: createMetricsRegistry('edge') });
const server = await edge.listen();
logger.info({ address: server.address(), parents: config.EDGE_PARENTS ?? [] }, 'edge listening');

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    logger.info({ signal }, 'edge stopping');
    void edge.close().finally(() => {
      flush();
      process.exit(0);
    });
  });
}
