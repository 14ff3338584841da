/**
 * Child process for the "worker SIGKILLed mid-job" test: a packager worker on real Kafka, S3 and
 * PostgreSQL (addresses in argv/env), printing one JSON line per stage so the parent can kill it
 * at a chosen point.
 */
import { loadConfig } from '@platform/config';
import { createLogger } from '@platform/logging';
import { createMetricsRegistry } from '@platform/http';
import { createSqlDatabase } from '@platform/sql';
import { S3ObjectStore } from '@platform/storage';
import { KafkaBus } from '@platform/bus';
import { MemoryCache } from '@platform/cache';
import { createPackagerWorker } from '../src/index';

const [dbUrl, topic, groupId] = process.argv.slice(2);
const logger = createLogger({ name: 'packager-child', level: 'warn' });
const config = loadConfig({ DATABASE_URL: dbUrl, SEGMENT_DURATION_S: '2' });
const sql = await createSqlDatabase(config, logger, { maxConnections: 2 });
const objects = await new S3ObjectStore({
  endpoint: process.env.IT_S3_ENDPOINT!, accessKey: process.env.IT_S3_ACCESS_KEY!, secretKey: process.env.IT_S3_SECRET_KEY!, bucket: process.env.IT_S3_BUCKET!,
}).init();
const bus = new KafkaBus({ brokers: process.env.IT_KAFKA_BROKERS!.split(','), clientId: 'packager-child' }, logger);
const worker = createPackagerWorker(
  { config, logger, metrics: createMetricsRegistry('packager-child'), sql: sql.db, objects, bus, cache: new MemoryCache() },
  { topic, groupId, sessionTimeoutMs: 6000, onStage: (job, stage) => console.log(JSON.stringify({ event: 'stage', trackId: job.trackId, stage })) },
);
await worker.start();
console.log(JSON.stringify({ event: 'started' }));
