/**
 * Message bus: Kafka (kafkajs) on KAFKA_BROKERS, else the in-process bus with the same semantics.
 */
import type { Config } from '@platform/config';
import type { Logger } from '@platform/logging';
import { KafkaBus } from './kafka-bus';
import { MemoryBus } from './memory-bus';
import type { Bus } from './types';

export * from './types';
export { KafkaBus, type KafkaBusOptions } from './kafka-bus';
export { MemoryBus } from './memory-bus';
export { partitionForKey } from './partitioner';

export async function createBus(config: Pick<Config, 'KAFKA_BROKERS' | 'KAFKA_PARTITIONS'>, logger: Logger, opts: { clientId?: string } = {}): Promise<Bus> {
  if (config.KAFKA_BROKERS?.length) {
    const bus = new KafkaBus({ brokers: config.KAFKA_BROKERS, defaultPartitions: config.KAFKA_PARTITIONS, clientId: opts.clientId }, logger);
    try {
      await bus.ping();
    } catch (e) {
      await bus.close().catch(() => undefined);
      throw new Error(`Kafka at ${config.KAFKA_BROKERS.join(',')} does not answer: ${(e as Error).message}`, { cause: e });
    }
    return bus;
  }
  return new MemoryBus(logger, config.KAFKA_PARTITIONS);
}
