/**
 * Run one edge alone: `node --no-memory-reducer --import tsx edge-workers/src/main.ts` (reads the
 * CONTRACT's env).
 *
 * --no-memory-reducer: V8's memory reducer runs full mark-compact GCs whenever the JS heap looks idle,
 * and with hits answered in native code (fast-path.ts) it usually does. Each one (5-15 ms on the bench
 * machine) stalls every connection of this event loop: measured with wrk at 7k req/s, 3 such GCs in 8 s
 * and p99 2.3 ms, none and 1.5 ms without the reducer. The heap is small and steady (cached bodies live
 * outside it), so handing memory back buys nothing. V8 reads the flag only at start-up (setting it from
 * here changes nothing), so it belongs on the command line; the edge logs a hint when it is missing.
 */
import { loadConfigOrExit } from '@platform/config';
import { createBufferedLogger } from '@platform/logging';
import { createMetricsRegistry } from '@platform/http';
import { KafkaBus } from '@platform/bus';
import { createEdgeServer } from './edge-server';

const config = loadConfigOrExit();
// Batched stdout writes: at one access-log line per 100 hits, a write per line was the largest cost
// the edge adds to a cached hit (a thread-pool hop per line); lines now reach stdout within 1 s.
const { logger, access, flush } = createBufferedLogger({ name: 'edge', level: config.LOG_LEVEL });
if (!process.execArgv.includes('--no-memory-reducer')) {
  logger.info('started without --no-memory-reducer: V8 may pause this edge for idle-time GCs (see edge-workers/src/main.ts)');
}
// Purges (deleted / republished tracks) arrive over Kafka. Not createBus: it refuses to start without
// a broker, and an edge must serve its cache while Kafka is down (the subscription retries). Alone and
// without KAFKA_BROKERS there is nobody to hear from (the all-in-one runner passes its in-process bus).
const bus = config.KAFKA_BROKERS?.length ? new KafkaBus({ brokers: config.KAFKA_BROKERS, defaultPartitions: config.KAFKA_PARTITIONS, clientId: `edge-${config.EDGE_ID}` }, logger) : undefined;
const edge = createEdgeServer({ config, logger, accessLogger: access, metrics: createMetricsRegistry('edge'), bus });
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
