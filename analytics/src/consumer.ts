/**
 * The ClickHouse writer: consumer group `analytics-writer` on `playback.events`, batches bounded by
 * rows and by time, offsets committed (by the bus) only after ClickHouse accepted the batch.
 *
 * Exactly-once in effect, in three layers (README "Delivery guarantees"):
 * 1. Set-based counters: plays, listeners and views are uniqExact/min/max per (session, track), so a
 *    duplicate row can never add a play, whatever happens below.
 * 2. The raw insert is made exactly-once for the sums (QoE): event ids already inserted by this
 *    process are remembered (bounded memory); after any redelivery (first batch of a partition in this
 *    process, or a batch after a failure) the ids are looked up in ClickHouse before inserting.
 * 3. A failed insert is retried in place with the same rows and the same `insert_deduplication_token`
 *    (backoff, heartbeating the bus), and every table keeps a deduplication window, so an insert that
 *    ClickHouse applied partially (raw table written, a view not) heals instead of doubling.
 * The raw table is also a ReplacingMergeTree on eventId, and exact counts read uniqExact(eventId).
 */
import { createHash } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Bus, Consumer, ReceivedMessage } from '@platform/bus';
import type { Logger } from '@platform/logging';
import type { Registry } from 'prom-client';
import { PLAYBACK_EVENTS_TOPIC, ZBeaconEnvelope } from '@platform/models';
import { ensureAnalyticsSchema } from './schema';
import { chTime, envelopeRows, type EventRow } from './rows';
import { analyticsMetrics, type AnalyticsMetrics } from './metrics';

export interface AnalyticsConsumerDeps {
  olap: ClickHouseClient;
  bus: Bus;
  logger: Logger;
  metrics: Registry;
  config?: { KAFKA_PARTITIONS?: number };
}

export interface AnalyticsConsumerOptions {
  topic?: string;
  groupId?: string;
  /** Flush when this many rows are pending (the row bound). */
  maxBatchRows?: number;
  /** Flush at the latest this long after the first pending row (the time bound). */
  lingerMs?: number;
  /** Messages per bus batch. */
  maxMessagesPerBatch?: number;
  /** First and longest pause between retries of a failed insert. */
  retryBackoffMs?: number;
  maxRetryBackoffMs?: number;
  /** How many inserted event ids to remember for deduplication without a lookup. */
  dedupMemory?: number;
  /** Apply the ClickHouse schema before consuming (default true). */
  migrate?: boolean;
}

export interface AnalyticsConsumerStats {
  inserted: number;
  duplicates: number;
  invalid: number;
  batches: number;
  insertFailures: number;
  lookups: number;
}

export interface AnalyticsConsumer {
  readonly stats: Readonly<AnalyticsConsumerStats>;
  /** Stop fetching, abandon a retrying insert (its offsets stay uncommitted), leave the group. */
  stop(): Promise<void>;
}

interface Contribution {
  rows: EventRow[];
  receivedAtMs: number[];
  /** Rows may already be in ClickHouse (redelivery): look their ids up before inserting. */
  uncertain: boolean;
  heartbeat: () => Promise<void>;
  resolve: () => void;
  reject: (e: unknown) => void;
}

class StoppedError extends Error {
  constructor() {
    super('analytics consumer stopping: batch left uncommitted for redelivery');
  }
}

/** Insertion-ordered set with a size bound: the ids this process inserted most recently. */
class RecentIds {
  private readonly ids = new Set<string>();
  constructor(private readonly max: number) {}
  has(id: string): boolean {
    return this.ids.has(id);
  }
  add(id: string): void {
    this.ids.add(id);
    if (this.ids.size > this.max) {
      const oldest = this.ids.values().next().value;
      if (oldest !== undefined) this.ids.delete(oldest);
    }
  }
}

/**
 * Accumulates rows from bus batches (possibly of several partitions at once) and writes them to
 * ClickHouse one insert at a time; each contributor's promise settles with the insert it joined.
 */
class BatchWriter {
  private pending: Contribution[] = [];
  private pendingRows = 0;
  private timer: NodeJS.Timeout | null = null;
  private chain: Promise<void> = Promise.resolve();
  private stopping = false;
  private wake: (() => void) | null = null;
  readonly recent: RecentIds;

  constructor(
    private readonly olap: ClickHouseClient,
    private readonly logger: Logger,
    private readonly m: AnalyticsMetrics,
    private readonly stats: AnalyticsConsumerStats,
    private readonly opts: Required<Pick<AnalyticsConsumerOptions, 'maxBatchRows' | 'lingerMs' | 'retryBackoffMs' | 'maxRetryBackoffMs' | 'dedupMemory'>>,
  ) {
    this.recent = new RecentIds(opts.dedupMemory);
  }

  submit(c: Omit<Contribution, 'resolve' | 'reject'>): Promise<void> {
    if (this.stopping) return Promise.reject(new StoppedError());
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ ...c, resolve, reject });
      this.pendingRows += c.rows.length;
      if (this.pendingRows >= this.opts.maxBatchRows) this.flushSoon(0);
      else this.flushSoon(this.opts.lingerMs);
    });
  }

  private flushSoon(delay: number): void {
    if (this.timer && delay > 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      const batch = this.pending;
      this.pending = [];
      this.pendingRows = 0;
      if (batch.length === 0) return;
      // One insert at a time keeps ClickHouse parts few and the retry logic simple.
      this.chain = this.chain.then(() => this.write(batch));
    }, delay);
  }

  /** Graceful: what is pending gets one last insert attempt; a retrying insert gives up (uncommitted). */
  stop(): void {
    this.stopping = true;
    this.wake?.();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.pending;
    this.pending = [];
    this.pendingRows = 0;
    if (batch.length > 0) this.chain = this.chain.then(() => this.write(batch));
  }

  async drained(): Promise<void> {
    await this.chain;
  }

  private async write(batch: Contribution[]): Promise<void> {
    try {
      await this.insertBatch(batch);
      for (const c of batch) c.resolve();
    } catch (e) {
      for (const c of batch) c.reject(e);
    }
  }

  private async insertBatch(batch: Contribution[]): Promise<void> {
    // Drop duplicates inside the batch and ids this process already inserted.
    const seen = new Set<string>();
    let rows: EventRow[] = [];
    let received: number[] = [];
    let duplicates = 0;
    for (const c of batch) {
      c.rows.forEach((r, i) => {
        if (seen.has(r.eventId) || this.recent.has(r.eventId)) {
          duplicates++;
          return;
        }
        seen.add(r.eventId);
        rows.push(r);
        received.push(c.receivedAtMs[i]);
      });
    }
    if (batch.some((c) => c.uncertain) && rows.length > 0) {
      const present = await this.withRetry(batch, () => this.lookupExisting(rows));
      if (present.size > 0) {
        const keep = rows.map((r) => !present.has(r.eventId));
        duplicates += rows.length - keep.filter(Boolean).length;
        received = received.filter((_, i) => keep[i]);
        rows = rows.filter((_, i) => keep[i]);
      }
    }
    if (duplicates > 0) {
      this.stats.duplicates += duplicates;
      this.m.consumerEvents.inc({ outcome: 'duplicate' }, duplicates);
    }
    if (rows.length === 0) return;
    // Same rows -> same token: a retry (here, or a redelivered identical block) is skipped by every
    // table that already took it, and applied by those that did not.
    const token = createHash('sha256').update(rows.map((r) => r.eventId).join(',')).digest('hex');
    await this.withRetry(batch, async () => {
      const end = this.m.insertSeconds.startTimer();
      await this.olap.insert({
        table: 'playback_events',
        values: rows,
        format: 'JSONEachRow',
        clickhouse_settings: { insert_deduplication_token: token, deduplicate_blocks_in_dependent_materialized_views: 1 },
      });
      end();
    });
    const now = Date.now();
    for (const r of rows) this.recent.add(r.eventId);
    for (const t of received) this.m.freshness.observe((now - t) / 1000);
    this.stats.inserted += rows.length;
    this.stats.batches++;
    this.m.consumerEvents.inc({ outcome: 'inserted' }, rows.length);
  }

  /** Run `fn` until it succeeds or the consumer stops: ClickHouse down means pause, not drop. */
  private async withRetry<T>(batch: Contribution[], fn: () => Promise<T>): Promise<T> {
    let delay = this.opts.retryBackoffMs;
    for (;;) {
      try {
        return await fn();
      } catch (e) {
        this.stats.insertFailures++;
        this.m.insertFailures.inc();
        if (this.stopping) throw new StoppedError();
        this.logger.warn({ err: e, retryInMs: delay }, 'analytics: ClickHouse write failed; retrying the same batch');
        await this.sleep(delay);
        if (this.stopping) throw new StoppedError();
        delay = Math.min(delay * 2, this.opts.maxRetryBackoffMs);
        // Keep the bus from handing these partitions to another consumer while we wait.
        await Promise.all(batch.map((c) => c.heartbeat().catch(() => undefined)));
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }

  private async lookupExisting(rows: EventRow[]): Promise<Set<string>> {
    this.stats.lookups++;
    let min = rows[0].eventTime;
    let max = rows[0].eventTime;
    for (const r of rows) {
      if (r.eventTime < min) min = r.eventTime;
      if (r.eventTime > max) max = r.eventTime;
    }
    const present = new Set<string>();
    // Ids are validated UUIDs (lower-case hex and dashes), safe to inline; chunks keep the SQL small.
    for (let i = 0; i < rows.length; i += 5000) {
      const ids = rows.slice(i, i + 5000).map((r) => `'${r.eventId}'`).join(',');
      const rs = await this.olap.query({
        query: `SELECT toString(eventId) AS id FROM playback_events
          WHERE eventTime >= toDateTime64('${min}', 3, 'UTC') AND eventTime <= toDateTime64('${max}', 3, 'UTC')
            AND eventId IN (${ids})`,
        format: 'JSONEachRow',
      });
      for (const r of await rs.json<{ id: string }>()) present.add(r.id);
    }
    return present;
  }
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Parse one bus message; invalid ones (other producers, corruption) are counted and skipped. */
function parseMessage(m: ReceivedMessage): { rows: EventRow[]; receivedAt: number } | null {
  let json: unknown;
  try {
    json = JSON.parse(m.value.toString('utf8'));
  } catch {
    return null;
  }
  const env = ZBeaconEnvelope.safeParse(json);
  if (!env.success) return null;
  const rows = envelopeRows(env.data).filter((r) => UUID_RE.test(r.eventId));
  return { rows, receivedAt: env.data.receivedAt };
}

export async function createAnalyticsConsumer(deps: AnalyticsConsumerDeps, options: AnalyticsConsumerOptions = {}): Promise<AnalyticsConsumer> {
  const opts = {
    topic: options.topic ?? PLAYBACK_EVENTS_TOPIC,
    groupId: options.groupId ?? 'analytics-writer',
    maxBatchRows: options.maxBatchRows ?? 20_000,
    lingerMs: options.lingerMs ?? 100,
    maxMessagesPerBatch: options.maxMessagesPerBatch ?? 2000,
    retryBackoffMs: options.retryBackoffMs ?? 200,
    maxRetryBackoffMs: options.maxRetryBackoffMs ?? 10_000,
    dedupMemory: options.dedupMemory ?? 500_000,
  };
  const logger = deps.logger.child({ component: 'analytics-consumer' });
  const m = analyticsMetrics(deps.metrics);
  const stats: AnalyticsConsumerStats = { inserted: 0, duplicates: 0, invalid: 0, batches: 0, insertFailures: 0, lookups: 0 };
  if (options.migrate !== false) await ensureAnalyticsSchema(deps.olap);
  await deps.bus.ensureTopic(opts.topic, { partitions: deps.config?.KAFKA_PARTITIONS });
  const writer = new BatchWriter(deps.olap, logger, m, stats, opts);
  // Next offset this process expects per partition; anything else is a redelivery (restart, rebalance, retry).
  const expected = new Map<number, string>();

  const consumer: Consumer = await deps.bus.subscribe({
    topic: opts.topic,
    groupId: opts.groupId,
    maxBatchSize: opts.maxMessagesPerBatch,
    fromBeginning: true,
    eachBatch: async (messages, ctx) => {
      if (messages.length === 0) return;
      const partition = ctx.partition;
      const uncertain = expected.get(partition) !== messages[0].offset;
      const rows: EventRow[] = [];
      const receivedAtMs: number[] = [];
      let invalid = 0;
      for (const msg of messages) {
        const parsed = parseMessage(msg);
        if (!parsed) {
          invalid++;
          continue;
        }
        for (const r of parsed.rows) {
          rows.push(r);
          receivedAtMs.push(parsed.receivedAt);
        }
      }
      if (invalid > 0) {
        stats.invalid += invalid;
        m.consumerEvents.inc({ outcome: 'invalid' }, invalid);
        logger.warn({ partition, invalid }, 'analytics: skipped messages that are not beacon envelopes');
      }
      expected.delete(partition);
      if (rows.length > 0) await writer.submit({ rows, receivedAtMs, uncertain, heartbeat: ctx.heartbeat });
      expected.set(partition, (BigInt(messages[messages.length - 1].offset) + 1n).toString());
    },
  });
  logger.info({ topic: opts.topic, groupId: opts.groupId }, 'analytics consumer started');

  return {
    stats,
    async stop() {
      writer.stop();
      await consumer.stop();
      await writer.drained();
    },
  };
}

export { chTime };
