/**
 * In-process bus with Kafka's semantics, the embedded default: topics split into partitions by key hash,
 * consumer groups (each group sees every message once; inside a group each partition is handled by one
 * member at a time, in order), batches up to maxBatchSize, and at-least-once delivery: a group's offset
 * moves only after eachBatch resolved; a batch that throws is delivered again after a backoff.
 *
 * Retention, as Kafka's but bounded for a process: a message stays at least RETENTION_MS (so a group that
 * subscribes a little later still reads from the beginning), then goes once every existing group has
 * committed past it; beyond MAX_RETAINED per partition the oldest go regardless.
 */
import type { Logger } from '@platform/logging';
import { partitionForKey } from './partitioner';
import type { Bus, BusMessage, Consumer, ConsumerOptions, ReceivedMessage } from './types';

const MAX_RETAINED = 1_000_000;
const RETENTION_MS = 3600_000;

interface PartitionLog {
  /** Offset of messages[0]. */
  base: number;
  messages: ReceivedMessage[];
  waiters: Set<() => void>;
}

interface Topic {
  name: string;
  partitions: PartitionLog[];
  groups: Map<string, Group>;
  roundRobin: number;
}

interface Member {
  id: number;
  opts: ConsumerOptions;
  stopped: boolean;
  /** Batches being handled by this member right now. */
  inflight: Set<Promise<void>>;
}

interface Group {
  id: string;
  topic: Topic;
  /** Next offset to deliver, per partition. */
  committed: number[];
  members: Member[];
  workers: (Promise<void> | null)[];
  /** Wakes workers sleeping in a backoff or waiting for messages when members change. */
  wake: Set<() => void>;
}

export class MemoryBus implements Bus {
  readonly kind = 'memory' as const;
  private readonly topics = new Map<string, Topic>();
  private readonly consumers = new Set<Consumer>();
  private nextMemberId = 1;
  private closed = false;

  constructor(
    private readonly logger: Logger,
    private readonly defaultPartitions = 6,
  ) {}

  async ensureTopic(topic: string, opts: { partitions?: number } = {}): Promise<void> {
    this.topic(topic, opts.partitions);
  }

  private topic(name: string, partitions?: number): Topic {
    let t = this.topics.get(name);
    if (!t) {
      if (!/^[A-Za-z0-9._-]{1,249}$/.test(name)) throw new Error(`invalid topic name "${name}"`);
      const n = partitions ?? this.defaultPartitions;
      t = {
        name,
        partitions: Array.from({ length: n }, () => ({ base: 0, messages: [], waiters: new Set() })),
        groups: new Map(),
        roundRobin: 0,
      };
      this.topics.set(name, t);
    }
    return t;
  }

  async send(topic: string, messages: BusMessage[]): Promise<void> {
    if (this.closed) throw new Error('bus is closed');
    const t = this.topic(topic);
    const now = Date.now();
    const touched = new Set<PartitionLog>();
    for (const m of messages) {
      const p = m.key ? partitionForKey(m.key, t.partitions.length) : t.roundRobin++ % t.partitions.length;
      const log = t.partitions[p];
      log.messages.push({
        topic,
        partition: p,
        offset: String(log.base + log.messages.length),
        key: m.key || null,
        // Copy: the producer may reuse its buffer after send resolved, as with a network client.
        value: Buffer.from(m.value),
        headers: { ...(m.headers ?? {}) },
        timestamp: now,
      });
      touched.add(log);
    }
    for (const log of touched) {
      this.trim(t, log);
      for (const w of [...log.waiters]) w();
    }
  }

  private trim(t: Topic, log: PartitionLog): void {
    const p = t.partitions.indexOf(log);
    const slowest = t.groups.size ? Math.min(...[...t.groups.values()].map((g) => g.committed[p])) : Infinity;
    const cutoff = Date.now() - RETENTION_MS;
    let drop = Math.max(0, log.messages.length - MAX_RETAINED);
    // Past the retention time, a message goes once every existing group has committed past it.
    while (drop < log.messages.length && log.messages[drop].timestamp < cutoff && log.base + drop < slowest) drop++;
    if (drop > 0) {
      log.messages.splice(0, drop);
      log.base += drop;
    }
  }

  async subscribe(opts: ConsumerOptions): Promise<Consumer> {
    if (this.closed) throw new Error('bus is closed');
    const t = this.topic(opts.topic);
    let g = t.groups.get(opts.groupId);
    if (!g) {
      const fromBeginning = opts.fromBeginning ?? true;
      g = {
        id: opts.groupId,
        topic: t,
        committed: t.partitions.map((log) => (fromBeginning ? log.base : log.base + log.messages.length)),
        members: [],
        workers: t.partitions.map(() => null),
        wake: new Set(),
      };
      t.groups.set(opts.groupId, g);
    }
    const member: Member = { id: this.nextMemberId++, opts, stopped: false, inflight: new Set() };
    g.members.push(member);
    const group = g;
    this.rebalance(group);
    const consumer: Consumer = {
      stop: async () => {
        if (member.stopped) return;
        member.stopped = true;
        group.members = group.members.filter((m) => m !== member);
        this.consumers.delete(consumer);
        this.rebalance(group);
        // Let an in-flight batch of this member finish (and commit) before stop resolves.
        await Promise.all([...member.inflight].map((b) => b.catch(() => undefined)));
      },
    };
    this.consumers.add(consumer);
    return consumer;
  }

  /** Starts a worker for each partition that has none while the group has members; wakes sleepers. */
  private rebalance(g: Group): void {
    for (const w of [...g.wake]) w();
    if (!g.members.length) return;
    g.topic.partitions.forEach((_, p) => {
      if (g.workers[p]) return;
      const run = this.runPartition(g, p).finally(() => {
        if (g.workers[p] === run) g.workers[p] = null;
      });
      g.workers[p] = run;
    });
  }

  /**
   * One loop per (group, partition): the partition goes to member p % members (Kafka's range assignment
   * in spirit), so one member at a time handles it and order within the partition holds.
   */
  private async runPartition(g: Group, p: number): Promise<void> {
    const log = g.topic.partitions[p];
    let failures = 0;
    while (g.members.length && !this.closed) {
      const member = g.members[p % g.members.length];
      const start = Math.max(g.committed[p], log.base);
      const from = start - log.base;
      if (from >= log.messages.length) {
        await this.waitFor(g, log);
        continue;
      }
      const batch = log.messages.slice(from, from + (member.opts.maxBatchSize ?? 100));
      try {
        const handling = member.opts.eachBatch(batch, { partition: p, heartbeat: async () => undefined });
        member.inflight.add(handling);
        try {
          await handling;
        } finally {
          member.inflight.delete(handling);
        }
        g.committed[p] = Number(batch[batch.length - 1].offset) + 1;
        failures = 0;
        this.trim(g.topic, log);
      } catch (err) {
        failures++;
        const base = member.opts.retryBackoffMs ?? 500;
        const delay = Math.min(30_000, base * 2 ** Math.min(failures - 1, 16));
        this.logger.warn({ err, topic: g.topic.name, group: g.id, partition: p, offset: batch[0].offset, retryInMs: delay }, 'bus: batch failed, will deliver it again');
        await this.sleep(g, delay);
      }
    }
  }

  private waitFor(g: Group, log: PartitionLog): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        log.waiters.delete(done);
        g.wake.delete(done);
        resolve();
      };
      log.waiters.add(done);
      g.wake.add(done);
    });
  }

  /** A backoff that membership changes cut short (a stopping consumer must not wait 30 s). */
  private sleep(g: Group, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        g.wake.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      g.wake.add(done);
    });
  }

  async ping(): Promise<void> {
    if (this.closed) throw new Error('bus is closed');
  }

  async close(): Promise<void> {
    await Promise.all([...this.consumers].map((c) => c.stop()));
    this.closed = true;
  }
}
