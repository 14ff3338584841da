/**
 * Bus on Apache Kafka (kafkajs). Producer: idempotent, acks=all, one request in flight, so a retried send
 * neither duplicates nor reorders. Consumers: manual offsets only (autoCommit off, eachBatchAutoResolve off):
 * a message's offset is resolved and committed after the handler resolved for it, never before, so a
 * consumer that dies mid-batch leaves those messages uncommitted and the group gets them again.
 */
import net from 'node:net';
import { Kafka, logLevel, Partitioners, type Admin, type Producer, type Consumer as KConsumer, type LogEntry } from 'kafkajs';
import type { Logger } from '@platform/logging';
import type { Bus, BusMessage, Consumer, ConsumerOptions, ReceivedMessage } from './types';

/** A handler running longer than this is presumed stuck: its heartbeats stop (see eachBatch). */
const MAX_HANDLER_MS = 30 * 60_000;

/**
 * A send retries for about 10 s (0.2 + 0.4 + ... capped at 3 s, six times), then fails to its caller,
 * which owns the policy beyond that (the beacon collector buffers, an outbox relay tries again later).
 * Bounded on purpose: kafkajs goes on retrying a send its caller has given up on, and a retry that finds
 * the client disconnected connects it again, so an unbounded send outlives close() and keeps the
 * process alive.
 */
const SEND_RETRY = { retries: 6, initialRetryTime: 200, maxRetryTime: 3000 };
/** close() waits this long for sends still retrying before it disconnects. */
const CLOSE_WAIT_MS = 20_000;

export interface KafkaBusOptions {
  brokers: string[];
  clientId?: string;
  defaultPartitions?: number;
  /** The client's retry policy for connecting and admin requests (default: 8 retries, 0.2 s doubling to 10 s). */
  retry?: { retries: number; initialRetryTime: number; maxRetryTime: number };
}

export class KafkaBus implements Bus {
  readonly kind = 'kafka' as const;
  private readonly kafka: Kafka;
  private admin?: Promise<Admin>;
  private producer?: Promise<Producer>;
  private readonly knownTopics = new Set<string>();
  private readonly consumers = new Set<Consumer>();
  private readonly sending = new Set<Promise<unknown>>();
  private readonly sockets = new Set<net.Socket>();
  private closed = false;
  /** Set once close() has disconnected every client: no connection opens after that. */
  private sealed = false;

  constructor(
    private readonly opts: KafkaBusOptions,
    private readonly logger: Logger,
  ) {
    const log = logger.child({ component: 'kafkajs' });
    this.kafka = new Kafka({
      clientId: opts.clientId ?? 'music-platform',
      brokers: opts.brokers,
      connectionTimeout: 5000,
      socketFactory: ({ host, port, onConnect }) => this.connect(host, port, onConnect),
      retry: opts.retry ?? { retries: 8, initialRetryTime: 200, maxRetryTime: 10_000 },
      // kafkajs logs group joins and rebalances at INFO: routine for us, so debug; warnings and errors stay.
      logLevel: logLevel.INFO,
      logCreator:
        () =>
        ({ level, log: entry }: LogEntry) => {
          const { message, ...rest } = entry;
          if (level === logLevel.ERROR) log.error(rest, message);
          else if (level === logLevel.WARN) log.warn(rest, message);
          else log.debug(rest, message);
        },
    });
  }

  /**
   * kafkajs's own socket factory, plus a register of the open sockets. kafkajs can connect again after a
   * client's disconnect() returned (a consumer's fetch that completes during the disconnect still sends
   * its heartbeat, on a new connection), and nothing would ever close that socket: after close() no new
   * connection opens, and close() ends whatever is left.
   */
  private connect(host: string, port: number, onConnect: () => void): net.Socket {
    const socket = net.connect({ host, port }, onConnect);
    socket.setKeepAlive(true, 60_000);
    if (this.sealed) {
      socket.destroy(new Error('bus is closed'));
      return socket;
    }
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    return socket;
  }

  private getAdmin(): Promise<Admin> {
    // A failed connect is not cached: the next call tries again (Kafka may come up after this process).
    this.admin ??= (async () => {
      const a = this.kafka.admin();
      await a.connect();
      return a;
    })().catch((e: unknown) => {
      this.admin = undefined;
      throw e;
    });
    return this.admin;
  }

  private getProducer(): Promise<Producer> {
    this.producer ??= (async () => {
      const p = this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
        retry: SEND_RETRY,
      });
      await p.connect();
      return p;
    })().catch((e: unknown) => {
      this.producer = undefined;
      throw e;
    });
    return this.producer;
  }

  async ensureTopic(topic: string, opts: { partitions?: number } = {}): Promise<void> {
    if (this.knownTopics.has(topic)) return;
    const admin = await this.getAdmin();
    const partitions = opts.partitions ?? this.opts.defaultPartitions ?? 6;
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
    // An existing topic with fewer partitions than asked for grows (never shrinks, as Kafka allows).
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    const have = meta.topics[0]?.partitions.length ?? 0;
    if (opts.partitions && have < opts.partitions) {
      await admin.createPartitions({ topicPartitions: [{ topic, count: opts.partitions }] });
    }
    this.knownTopics.add(topic);
  }

  async send(topic: string, messages: BusMessage[]): Promise<void> {
    if (!messages.length) return;
    if (this.closed) throw new Error('bus is closed');
    // Tracked until it settles, even when the caller stops waiting: close() must not disconnect under it.
    const sent = (async () => {
      await this.ensureTopic(topic);
      const producer = await this.getProducer();
      await producer.send({
        topic,
        acks: -1,
        messages: messages.map((m) => ({ key: m.key || null, value: m.value, headers: m.headers })),
      });
    })();
    this.sending.add(sent);
    try {
      await sent;
    } finally {
      this.sending.delete(sent);
    }
  }

  async subscribe(opts: ConsumerOptions): Promise<Consumer> {
    await this.ensureTopic(opts.topic);
    let stopping = false;
    const consumer: KConsumer = this.kafka.consumer({
      groupId: opts.groupId,
      sessionTimeout: opts.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: Math.max(500, Math.floor((opts.sessionTimeoutMs ?? 30_000) / 10)),
      allowAutoTopicCreation: false,
      // kafkajs restarts a crashed consumer (the broker went away) on a timer, and a crash being handled
      // while stop() runs schedules that restart after stop() cleared it: the consumer then rejoins,
      // reconnected, after its owner closed it, and keeps the process alive. Not once stopping.
      retry: { retries: 8, initialRetryTime: 300, maxRetryTime: 30_000, restartOnFailure: async () => !stopping },
      ...(opts.maxBytesPerPartition ? { maxBytesPerPartition: opts.maxBytesPerPartition } : {}),
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [opts.topic], fromBeginning: opts.fromBeginning ?? true });
    const maxBatch = opts.maxBatchSize ?? 100;
    const heartbeatEvery = Math.max(500, Math.floor((opts.sessionTimeoutMs ?? 30_000) / 5));
    const baseBackoff = opts.retryBackoffMs ?? 500;
    const failures = new Map<number, number>();
    const log = this.logger;

    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      // Per-partition order holds at any concurrency: kafkajs never runs two batches of one partition at once.
      partitionsConsumedConcurrently: Math.max(1, Math.floor(opts.partitionsConsumedConcurrently ?? 1)),
      eachBatch: async ({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }) => {
        const received: ReceivedMessage[] = batch.messages.map((m) => ({
          topic: batch.topic,
          partition: batch.partition,
          offset: m.offset,
          key: m.key ? m.key.toString() : null,
          value: m.value ?? Buffer.alloc(0),
          headers: Object.fromEntries(Object.entries(m.headers ?? {}).map(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString() : String(v ?? '')])),
          timestamp: Number(m.timestamp),
        }));
        for (let i = 0; i < received.length; i += maxBatch) {
          if (!isRunning() || isStale() || stopping) return;
          const chunk = received.slice(i, i + maxBatch);
          // Heartbeat while the handler runs, so a long job (packaging a track) does not look like a dead
          // member and get its partition taken away mid-job; a handler stuck past MAX_HANDLER_MS stops
          // heartbeating, and the broker then hands its partition (and the uncommitted batch) to another.
          const handlerStarted = Date.now();
          const beat = setInterval(() => {
            if (Date.now() - handlerStarted < MAX_HANDLER_MS) heartbeat().catch(() => undefined);
          }, heartbeatEvery);
          try {
            await opts.eachBatch(chunk, { partition: batch.partition, heartbeat });
          } catch (err) {
            // Not resolved, not committed: the next fetch starts again at this chunk's first offset.
            const n = (failures.get(batch.partition) ?? 0) + 1;
            failures.set(batch.partition, n);
            const delay = Math.min(30_000, baseBackoff * 2 ** Math.min(n - 1, 16));
            log.warn({ err, topic: batch.topic, group: opts.groupId, partition: batch.partition, offset: chunk[0].offset, retryInMs: delay }, 'bus: batch failed, will deliver it again');
            await backoff(delay, heartbeat, () => !isRunning() || stopping);
            return;
          } finally {
            clearInterval(beat);
          }
          failures.delete(batch.partition);
          const last = chunk[chunk.length - 1].offset;
          resolveOffset(last);
          // The committed offset is the next one to read.
          await commitOffsetsIfNecessary({
            topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: (BigInt(last) + 1n).toString() }] }],
          });
          await heartbeat();
        }
      },
    });

    const handle: Consumer = {
      stop: async () => {
        if (stopping) return;
        stopping = true;
        this.consumers.delete(handle);
        // disconnect() waits for the batch in flight, then leaves the group so partitions move at once.
        await consumer.disconnect();
      },
    };
    this.consumers.add(handle);
    return handle;
  }

  async ping(): Promise<void> {
    const admin = await this.getAdmin();
    await admin.describeCluster();
  }

  /**
   * Consumers leave their groups; sends still retrying get up to CLOSE_WAIT_MS to settle (one that
   * found the client disconnected would connect it again), then the producer and admin disconnect.
   */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.consumers].map((c) => c.stop().catch(() => undefined)));
    if (this.sending.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      const waited = new Promise((r) => (timer = setTimeout(r, CLOSE_WAIT_MS)));
      await Promise.race([Promise.allSettled([...this.sending]), waited]);
      clearTimeout(timer);
      if (this.sending.size > 0) this.logger.warn({ sends: this.sending.size }, 'bus: closing with sends still retrying');
    }
    if (this.producer) await (await this.producer.catch(() => null))?.disconnect();
    if (this.admin) await (await this.admin.catch(() => null))?.disconnect();
    this.sealed = true;
    // A disconnected connection has ended its socket (and unref'd it); one still open was opened again
    // after a disconnect. Destroyed with an error: kafkajs then rejects what it had pending and tears its
    // request queue (and its timers) down.
    const strays = [...this.sockets].filter((s) => !s.writableEnded);
    if (strays.length > 0) this.logger.warn({ connections: strays.length }, 'bus: closing connections kafkajs opened after a disconnect');
    for (const socket of strays) socket.destroy(new Error('bus is closed'));
  }
}

async function backoff(ms: number, heartbeat: () => Promise<void>, shouldStop: () => boolean): Promise<void> {
  const until = Date.now() + ms;
  let lastBeat = Date.now();
  while (Date.now() < until && !shouldStop()) {
    await new Promise((r) => setTimeout(r, Math.min(200, until - Date.now())));
    if (Date.now() - lastBeat > 2000) {
      await heartbeat().catch(() => undefined);
      lastBeat = Date.now();
    }
  }
}
