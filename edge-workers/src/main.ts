/** Run one edge alone: `node --import tsx edge-workers/src/main.ts` (reads the CONTRACT's env). */
import { loadConfigOrExit } from '@platform/config';
import { createBufferedLogger } from '@platform/logging';
import { createMetricsRegistry } from '@platform/http';
import { KafkaBus } from '@platform/bus';
import { createEdgeServer } from './edge-server';

const config = loadConfigOrExit();
// Batched stdout writes: at one access-log line per 100 hits, a write per line was the largest cost
// the edge adds to a cached hit (a thread-pool hop per line); lines now reach stdout within 1 s.
const { logger, flush } = createBufferedLogger({ name: 'edge', level: config.LOG_LEVEL });
// Purges (deleted / republished tracks) arrive over Kafka. Not createBus: it refuses to start without
// a broker, and an edge must serve its cache while Kafka is down (the subscription retries). Alone and
// without KAFKA_BROKERS there is nobody to hear from (the all-in-one runner passes its in-process bus).
const bus = config.KAFKA_BROKERS?.length ? new KafkaBus({ brokers: config.KAFKA_BROKERS, defaultPartitions: config.KAFKA_PARTITIONS, clientId: `edge-${config.EDGE_ID}` }, logger) : undefined;
const edge = createEdgeServer({ config, logger, metrics: createMetricsRegistry('edge'), bus });
const server = await edge.listen();
logger.info({ address: server.address(), parents: config.EDGE_PARENTS ?? [], purges: bus ? 'kafka' : 'off' }, 'edge listening');

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    logger.info({ signal }, 'edge stopping');
    void edge
      .close()
      .then(() => bus?.close())
      .finally(() => {
        flush();
        process.exit(0);
      });
  });
}
