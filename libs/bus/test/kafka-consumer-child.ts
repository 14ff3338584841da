/**
 * Child process for the "killed mid-batch" test: consumes a topic in a group, succeeds on its first batch
 * (so that batch is committed), then prints `holding` with the offsets of its second batch and never finishes
 * it. The parent kills this process with SIGKILL at that point.
 */
import { createLogger } from '@platform/logging';
import { KafkaBus } from '../src/index';

const [brokers, topic, groupId] = process.argv.slice(2);
const bus = new KafkaBus({ brokers: brokers.split(',') }, createLogger({ name: 'kafka-child', level: 'warn' }));
let batches = 0;
await bus.subscribe({
  topic,
  groupId,
  maxBatchSize: 5,
  sessionTimeoutMs: 6000,
  eachBatch: async (messages) => {
    batches++;
    const offsets = messages.map((m) => m.offset);
    if (batches === 1) {
      process.stdout.write(`${JSON.stringify({ event: 'committed', offsets })}\n`);
      return;
    }
    process.stdout.write(`${JSON.stringify({ event: 'holding', offsets })}\n`);
    await new Promise(() => undefined); // never resolves: the process dies in here
  },
});
process.stdout.write(`${JSON.stringify({ event: 'subscribed' })}\n`);
