/**
 * Message bus: Kafka semantics (topics with partitions, keys, consumer groups, at-least-once,
 * offsets committed only after the handler succeeded) shared by kafkajs and the in-process bus.
 */
export interface BusMessage {
  key: string;
  value: Buffer | string;
  headers?: Record<string, string>;
}

export interface ReceivedMessage {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: Buffer;
  headers: Record<string, string>;
  timestamp: number;
}

export interface ConsumerOptions {
  topic: string;
  groupId: string;
  /** Handler for one batch of one partition; offsets are committed only when it resolves. Throwing means the batch is delivered again. */
  eachBatch: (messages: ReceivedMessage[], ctx: { partition: number; heartbeat(): Promise<void> }) => Promise<void>;
  /** Upper bound of messages handed to eachBatch at once. */
  maxBatchSize?: number;
  /** Start from the earliest offset when the group has none (default true). */
  fromBeginning?: boolean;
  /** Backoff between retries of a failed batch, ms (default 500, doubled up to 30 s). */
  retryBackoffMs?: number;
  /**
   * Kafka only: how long the broker waits for a silent (crashed) member before handing its partitions
   * to others (default 30 s; the broker's minimum is usually 6 s).
   */
  sessionTimeoutMs?: number;
  /**
   * Kafka only: how many partitions' batches may be in the handler at once (default 1). Above 1, a handler
   * that gathers batches of several partitions into one write (each call still resolving only when its
   * own batch is stored) turns one fetch into one write; each partition's offsets are still committed
   * only after its own handler call resolved. The memory bus always runs its partitions concurrently.
   */
  partitionsConsumedConcurrently?: number;
  /** Kafka only: bytes fetched per partition at most per fetch (default kafkajs', 1 MB). Performance only. */
  maxBytesPerPartition?: number;
}

export interface Consumer {
  /** Stop fetching, let the in-flight batch finish (and commit), leave the group. */
  stop(): Promise<void>;
}

export interface Bus {
  readonly kind: 'kafka' | 'memory';
  ensureTopic(topic: string, opts?: { partitions?: number }): Promise<void>;
  /** Resolves when the broker acknowledged (acks=all, idempotent producer). */
  send(topic: string, messages: BusMessage[]): Promise<void>;
  subscribe(opts: ConsumerOptions): Promise<Consumer>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
