/**
 * Run the analytics writer alone: `node --import tsx analytics/src/main.ts` (config from the environment,
 * CONTRACT.md). Consumes `playback.events` into ClickHouse; serves /healthz, /readyz and /metrics on
 * ANALYTICS_PORT (default 9464). The HTTP routes are served by the web process (platform/web-server.ts).
 * With embedded defaults (no KAFKA_BROKERS) the bus is in-process, so run it inside `npm start` instead.
 */
import { loadConfigOrExit } from '@platform/config';
import { createLogger } from '@platform/logging';
import { createMetricsRegistry, createServiceHttp } from '@platform/http';
import { createDeps } from '@platform/runtime';
import { createAnalyticsConsumer } from './consumer';

const config = loadConfigOrExit();
const logger = createLogger({ name: 'analytics', level: config.LOG_LEVEL });
const port = Number(process.env.ANALYTICS_PORT ?? 9464);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write('Invalid configuration: ANALYTICS_PORT must be a port number\n');
  process.exit(2);
}
if (!config.KAFKA_BROKERS?.length) logger.warn('KAFKA_BROKERS is unset: this process has its own in-process bus and will see no beacons; run analytics inside `npm start`, or set KAFKA_BROKERS');
const metrics = createMetricsRegistry('analytics');
const deps = await createDeps(config, logger, { metrics });
const consumer = await createAnalyticsConsumer(deps);
const { app } = createServiceHttp({ name: 'analytics', logger, registry: metrics, readiness: { clickhouse: deps.readiness.clickhouse, bus: deps.readiness.bus } });
await app.listen({ host: config.HOST, port });

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'analytics: stopping');
    void app
      .close()
      .then(() => consumer.stop())
      .then(() => deps.close())
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        logger.error({ err }, 'analytics: unclean stop');
        process.exit(1);
      });
  });
}
