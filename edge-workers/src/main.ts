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
 *
 * --single-threaded-gc, when the edge is confined to one core (taskset, a cpuset, a one-CPU container: one
 * edge process per core is how an edge scales on a host). V8 splits scavenges and mark-compacts into tasks
 * for its helper threads and waits for them; on one core those helpers run one after another, and the event
 * loop waits for all of them. perf sched on the bench machine: the main thread asleep 12 ms while three GC
 * helpers ran 4.0, 2.1 and 1.9 ms in turn on its core. Lab, wrk paced at 43k req/s, 8 s runs: a send held
 * up more than 8 ms in 16 of 32 runs with the helpers, 4 of 16 with --single-threaded-gc. On several cores
 * the helpers run in parallel and help; the edge logs a hint when it has one core and not the flag.
 */
import os from 'node:os';
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
if (os.availableParallelism() === 1 && !process.execArgv.includes('--single-threaded-gc')) {
  logger.info('one core and no --single-threaded-gc: each GC waits for helper threads that share this core (see edge-workers/src/main.ts)');
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
