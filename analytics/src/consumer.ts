/**
 * The ClickHouse writer: consumer group `analytics-writer` on `playback.events`, batches bounded by
 * rows and by time, offsets committed (by the bus) only after ClickHouse accepted the batch.
 *
 * Exactly-once in effect (README "Delivery guarantees"):
 * 1. Event ids this process inserted are remembered (bounded); client resends die here.
 * 2. A batch is written in two steps, raw table then the Null stage table that feeds the views, both
 *    with `insert_deduplication_token` = hash of the block's ids; a failure is retried in place with
 *    the same block and token (backoff, heartbeating the bus), so a partially applied insert heals.
 * 3. After any redelivery (first batch of a partition in this process, a batch after a failure) the ids
 *    are looked up in the raw table; found rows are not inserted again, and their blocks' step 2 is
 *    replayed under the stored token, which each view table applies only if it lacks it (a crash
 *    between or inside the two steps).
 * 4. Counters of plays, listeners and views are sets (uniqExact, min/max per (session, track)), and the
 *    raw table is a ReplacingMergeTree on eventId: a duplicate that got past 1-3 still counts once there.
 */
import { createHash } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Bus, Consumer, ReceivedMessage } from '@platform/bus';
import type { Logger } from '@platform/logging';
import type { Registry } from 'prom-client';
import { BEACON_TYPES, PLAYBACK_EVENTS_TOPIC, type TBeaconEnvelope } from '@platform/models';
import { EVENT_COLUMN_NAMES, ensureAnalyticsSchema } from './schema';
import { insertRaw } from '@platform/olap';
import { ROW_TOKEN_LENGTH, RowText, assembleRows, chTime, parseUuid, rowsBody, type EventRow, type RowPick } from './rows';
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
  /** Kafka: partitions whose batches are handled at once, coalesced into shared inserts (default max(6, KAFKA_PARTITIONS)). */
  partitionsConsumedConcurrently?: number;
  /** First and longest pause between retries of a failed insert. */
  retryBackoffMs?: number;
  maxRetryBackoffMs?: number;
  /** How many inserted event ids to remember for deduplication without a lookup. */
  dedupMemory?: number;
  /** Bus group session timeout (Kafka): how soon a dead consumer's partitions move to another. */
  sessionTimeoutMs?: number;
  /** Apply the ClickHouse schema before consuming (default true). */
  migrate?: boolean;
  /**
   * Group members this process runs (default 2 on Kafka, 1 on the in-process bus): while one member's
   * rows are inserted, the other fetches and parses the next ones. Partitions are spread over them.
   */
  fetchers?: number;
}

export interface AnalyticsConsumerStats {
  inserted: number;
  duplicates: number;
  invalid: number;
  batches: number;
  insertFailures: number;
  lookups: number;
  /** Stored blocks whose views were fed again after a redelivery. */
  replays: number;
}

export interface AnalyticsConsumer {
  readonly stats: Readonly<AnalyticsConsumerStats>;
  /** Stop fetching, abandon a retrying insert (its offsets stay uncommitted), leave the group. */
  stop(): Promise<void>;
}

interface Contribution {
  /** Which of this process's group members handed it over (Kafka: that member fetches nothing more until it is stored). */
  member: number;
  /** When it was handed over (ms). */
  at: number;
  /** Its rows, as text written while parsing (no object per event). */
  rows: RowText;
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

/**
 * A set of lower-case UUIDs held as 128-bit keys in a typed array (open addressing, linear probing, at
 * most half full; the all-zero key marks a free slot, so the nil UUID is a flag of its own): no string
 * and no Map entry per id, so a garbage collection has nothing of it to mark or move.
 */
class UuidTable {
  private readonly keys: Int32Array;
  private readonly mask: number;
  private hasNil = false;
  size = 0;
  constructor(maxIds: number) {
    let slots = 16;
    while (slots < maxIds * 2) slots *= 2;
    this.keys = new Int32Array(slots * 4);
    this.mask = slots - 1;
  }
  /** Index (in keys) of the key a,b,c,d, or of the free slot where it would go. */
  private find(a: number, b: number, c: number, d: number): number {
    let h = Math.imul(a, 0x85ebca6b) ^ Math.imul(b, 0xc2b2ae35) ^ Math.imul(c, 0x27d4eb2f) ^ d;
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    h ^= h >>> 12;
    const k = this.keys;
    const mask = this.mask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const j = i * 4;
      const w0 = k[j], w1 = k[j + 1], w2 = k[j + 2], w3 = k[j + 3];
      if ((w0 === a && w1 === b && w2 === c && w3 === d) || (w0 | w1 | w2 | w3) === 0) return j;
    }
  }
  has(a: number, b: number, c: number, d: number): boolean {
    if ((a | b | c | d) === 0) return this.hasNil;
    const j = this.find(a, b, c, d);
    return (this.keys[j] | this.keys[j + 1] | this.keys[j + 2] | this.keys[j + 3]) !== 0;
  }
  add(a: number, b: number, c: number, d: number): void {
    if ((a | b | c | d) === 0) {
      if (!this.hasNil) this.size++;
      this.hasNil = true;
      return;
    }
    const j = this.find(a, b, c, d);
    const k = this.keys;
    if ((k[j] | k[j + 1] | k[j + 2] | k[j + 3]) !== 0) return;
    k[j] = a;
    k[j + 1] = b;
    k[j + 2] = c;
    k[j + 3] = d;
    this.size++;
  }
  clear(): void {
    this.keys.fill(0);
    this.hasNil = false;
    this.size = 0;
  }
}

/**
 * The ids this process inserted most recently, in two generations: a generation fills up to half the
 * bound, then becomes the old one and the older generation is dropped whole. Remembers at least the
 * last max/2 ids and at most max, in O(1) per id.
 *
 * Lower-case UUIDs (what the consumer stores: it checks them) live in typed-array tables; any other
 * string in a Set beside them. The tables were Sets of strings: 250k-500k live strings that every major
 * garbage collection marked (GC was ~21% of the writer's thread at 40k events/s), and ~5% of it in the
 * Sets' hashing.
 *
 * Not a Set evicting its first entry (`ids.values().next()`), as this once was: V8 leaves deleted entries
 * as holes at the front of the table until the next rehash and every new iterator walks over them, so
 * each eviction cost O(holes). Measured at the 500k bound: 50k add+evict took ~20 s (0.4 ms per event),
 * so once a consumer process had inserted 500k events its throughput fell to ~2.5k events/s. That was
 * the "writer slows as tables grow" of the memory-bus benchmark (p95 freshness 18 s at half rate).
 */
export class RecentIds {
  private readonly generationSize: number;
  private young: { uuids: UuidTable; other: Set<string> };
  private old: { uuids: UuidTable; other: Set<string> };
  private readonly words = new Int32Array(4);
  constructor(max: number) {
    this.generationSize = Math.max(1, Math.floor(max / 2));
    this.young = { uuids: new UuidTable(this.generationSize), other: new Set() };
    this.old = { uuids: new UuidTable(this.generationSize), other: new Set() };
  }
  /** Parses a lower-case UUID into this.words; false for any other string. */
  private parse(id: string): boolean {
    return parseUuid(id, this.words, 0);
  }
  has(id: string): boolean {
    if (!this.parse(id)) return this.young.other.has(id) || this.old.other.has(id);
    return this.hasKey(this.words, 0);
  }
  add(id: string): void {
    if (this.parse(id)) this.addKey(this.words, 0);
    else this.addOther(id);
  }
  /** has() for a UUID already parsed (parseUuid) into keys[at..at+3]: the writer parses each id once. */
  hasKey(keys: Int32Array, at: number): boolean {
    const a = keys[at], b = keys[at + 1], c = keys[at + 2], d = keys[at + 3];
    return this.young.uuids.has(a, b, c, d) || this.old.uuids.has(a, b, c, d);
  }
  /** add() for a UUID already parsed into keys[at..at+3]. */
  addKey(keys: Int32Array, at: number): void {
    const a = keys[at], b = keys[at + 1], c = keys[at + 2], d = keys[at + 3];
    if (this.young.uuids.has(a, b, c, d)) return;
    this.rotateIfFull();
    this.young.uuids.add(a, b, c, d);
  }
  private addOther(id: string): void {
    if (this.young.other.has(id)) return;
    this.rotateIfFull();
    this.young.other.add(id);
  }
  private rotateIfFull(): void {
    if (this.young.uuids.size + this.young.other.size >= this.generationSize) {
      const dropped = this.old;
      dropped.uuids.clear();
      dropped.other.clear();
      this.old = this.young;
      this.young = dropped;
    }
  }
  get size(): number {
    return this.young.uuids.size + this.young.other.size + this.old.uuids.size + this.old.other.size;
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
  private writing = false;
  private wake: (() => void) | null = null;
  readonly recent: RecentIds;

  constructor(
    private readonly olap: ClickHouseClient,
    private readonly logger: Logger,
    private readonly m: AnalyticsMetrics,
    private readonly stats: AnalyticsConsumerStats,
    private readonly opts: Required<Pick<AnalyticsConsumerOptions, 'maxBatchRows' | 'lingerMs' | 'retryBackoffMs' | 'maxRetryBackoffMs' | 'dedupMemory'>>,
    /** Group members feeding this writer whose fetching stops while their rows wait (Kafka); 0: not known. */
    private readonly members: number,
  ) {
    this.recent = new RecentIds(opts.dedupMemory);
  }

  submit(c: Omit<Contribution, 'resolve' | 'reject' | 'at'>): Promise<void> {
    if (this.stopping) return Promise.reject(new StoppedError());
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ ...c, at: Date.now(), resolve, reject });
      this.pendingRows += c.rows.count;
      if (this.pendingRows >= this.opts.maxBatchRows || this.nothingMoreComing()) this.flushSoon(0);
      else this.flushSoon(this.opts.lingerMs);
    });
  }

  /**
   * Kafka: every member has rows waiting here, and a member fetches again only once its rows are stored,
   * so waiting longer cannot make the next insert any bigger.
   */
  private nothingMoreComing(): boolean {
    if (this.members === 0) return false;
    const waiting = new Set<number>();
    for (const c of this.pending) waiting.add(c.member);
    return waiting.size >= this.members;
  }

  private flushSoon(delay: number): void {
    if (this.timer && delay > 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.kick();
    }, delay);
  }

  /**
   * Group commit: one insert at a time (keeps ClickHouse parts few and the retry logic simple), and
   * what arrives while it runs waits for it and then goes in ONE insert, instead of being cut into
   * linger-sized pieces queued behind it. Under load inserts therefore grow towards maxBatchRows, where
   * ClickHouse's fixed cost per insert (~50-70 ms measured) stops dominating.
   */
  private kick(): void {
    if (this.writing || this.pending.length === 0) return;
    const batch: Contribution[] = [];
    let rows = 0;
    while (this.pending.length > 0 && (batch.length === 0 || rows + this.pending[0].rows.count <= this.opts.maxBatchRows)) {
      const c = this.pending.shift()!;
      batch.push(c);
      rows += c.rows.count;
    }
    this.pendingRows -= rows;
    this.writing = true;
    this.chain = this.write(batch).finally(() => {
      this.writing = false;
      if (this.pending.length === 0) return;
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      // In-process bus (members unknown): whatever queued meanwhile has waited one insert; write it now.
      // Kafka: the members just released fetch and parse their next rows (~0.1-0.3 s under load); the
      // next insert waits for them, up to the linger counted from its oldest row. ClickHouse's cost per
      // row falls steeply with the block (chDB, raw + views, 600k rows: 17 us per row in 10k-row
      // blocks, 12 in 20k, 8 in 50k, merges included), so at 40-50k events/s waiting is what keeps up.
      const waited = Date.now() - this.pending[0].at;
      if (this.members === 0 || this.pendingRows >= this.opts.maxBatchRows || this.nothingMoreComing() || waited >= this.opts.lingerMs) this.kick();
      else this.flushSoon(this.opts.lingerMs - waited);
    });
  }

  /** Graceful: what is pending gets one last insert attempt; a retrying insert gives up (uncommitted). */
  stop(): void {
    this.stopping = true;
    this.wake?.();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.kick();
  }

  async drained(): Promise<void> {
    while (this.writing || this.pending.length > 0) await this.chain;
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
    // Drop duplicates inside the batch and ids this process already inserted. Each id is parsed once
    // (UUIDs, which is all the consumer stores, into 128-bit keys): the in-batch check, the memory's
    // check and, after the insert, the memory's add all use that key.
    let total = 0;
    for (const c of batch) total += c.rows.count;
    const batchUuids = new UuidTable(total);
    // keep[i] of each part: 1 for a row to insert (then the number of its block, when a batch spans days).
    const parts: RowPick[] = batch.map((c) => ({ text: c.rows, keep: new Uint32Array(c.rows.count) }));
    let kept = 0;
    let duplicates = 0;
    for (const { text, keep } of parts) {
      const keys = text.keys;
      for (let i = 0; i < text.count; i++) {
        const at = i * 4;
        const a = keys[at], b = keys[at + 1], cc = keys[at + 2], d = keys[at + 3];
        if (batchUuids.has(a, b, cc, d) || this.recent.hasKey(keys, at)) {
          duplicates++;
          continue;
        }
        batchUuids.add(a, b, cc, d);
        keep[i] = 1;
        kept++;
      }
    }
    if (batch.some((c) => c.uncertain) && kept > 0) {
      // A redelivery: some of these may be stored already, by a consumer that died before committing,
      // perhaps between the two inserts or in the middle of the second. Replay step 2 for their blocks
      // (deduplicated per table by token), and do not insert them again.
      const present = await this.withRetry(batch, () => this.lookupExisting(parts));
      if (present.size > 0) {
        for (const token of new Set(present.values())) await this.withRetry(batch, () => this.replayStage(token));
        for (const { text, keep } of parts) {
          for (let i = 0; i < text.count; i++) {
            if (keep[i] && present.has(text.id(i))) {
              keep[i] = 0;
              kept--;
              duplicates++;
            }
          }
        }
      }
    }
    if (duplicates > 0) {
      this.stats.duplicates += duplicates;
      this.m.consumerEvents.inc({ outcome: 'duplicate' }, duplicates);
    }
    if (kept === 0) return;
    // One block per day: a block then lands in one raw partition, so step 1 is all-or-nothing. Nearly
    // always one day; otherwise keep[i] becomes the row's block number (1, 2, ...).
    const days = new Map<number, number>();
    for (const { text, keep } of parts) {
      for (let i = 0; i < text.count; i++) {
        if (!keep[i]) continue;
        const day = Math.floor(text.eventTimes[i] / DAY_MS);
        let mark = days.get(day);
        if (mark === undefined) days.set(day, (mark = days.size + 1));
        keep[i] = mark;
      }
    }
    for (let mark = 1; mark <= days.size; mark++) {
      const block = this.blockOf(parts, mark);
      await this.withRetry(batch, async () => {
        const end = this.m.insertSeconds.startTimer();
        await writeBody(this.olap, assembleRows(parts, mark, block.token), block.token, block.bounds);
        end();
      });
    }
    const now = Date.now();
    let receivedAt = NaN;
    let age = 0;
    for (const { text, keep } of parts) {
      for (let i = 0; i < text.count; i++) {
        if (!keep[i]) continue;
        this.recent.addKey(text.keys, i * 4);
        // Freshness per event; the events of one envelope share their receivedAt.
        if (text.receivedAts[i] !== receivedAt) age = (now - (receivedAt = text.receivedAts[i])) / 1000;
        this.m.freshness.observe(age);
      }
    }
    this.stats.inserted += kept;
    this.stats.batches++;
    this.m.consumerEvents.inc({ outcome: 'inserted' }, kept);
  }

  /**
   * The token and time bounds of the block of rows marked `mark`. Same rows -> same token (a hash of
   * their ids), so a retry is skipped by every table that already took the block.
   */
  private blockOf(parts: readonly RowPick[], mark: number): { token: string; bounds: { min: string; max: string } } {
    let n = 0;
    for (const { text, keep } of parts) for (let i = 0; i < text.count; i++) if (keep[i] === mark) n++;
    const ids = new Int32Array(n * 4);
    let min = Infinity;
    let max = -Infinity;
    let k = 0;
    for (const { text, keep } of parts) {
      for (let i = 0; i < text.count; i++) {
        if (keep[i] !== mark) continue;
        ids.set(text.keys.subarray(i * 4, i * 4 + 4), k);
        k += 4;
        const t = text.eventTimes[i];
        if (t < min) min = t;
        if (t > max) max = t;
      }
    }
    const token = createHash('sha256').update(new Uint8Array(ids.buffer)).digest('hex').slice(0, ROW_TOKEN_LENGTH);
    return { token, bounds: { min: chTime(min), max: chTime(max) } };
  }

  /** After a redelivery: feed the views again with a stored block, under its token (applied only where missing). */
  private async replayStage(token: string): Promise<void> {
    this.stats.replays++;
    await feedViews(this.olap, token);
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

  private async lookupExisting(parts: readonly RowPick[]): Promise<Map<string, string>> {
    this.stats.lookups++;
    const ids: string[] = [];
    let min = Infinity;
    let max = -Infinity;
    for (const { text, keep } of parts) {
      for (let i = 0; i < text.count; i++) {
        if (!keep[i]) continue;
        ids.push(text.id(i));
        const t = text.eventTimes[i];
        if (t < min) min = t;
        if (t > max) max = t;
      }
    }
    const present = new Map<string, string>();
    // Ids are validated UUIDs (lower-case hex and dashes), safe to inline; chunks keep the SQL small.
    for (let i = 0; i < ids.length; i += 5000) {
      const list = ids.slice(i, i + 5000).map((id) => `'${id}'`).join(',');
      const rs = await this.olap.query({
        query: `SELECT toString(eventId) AS id, any(batchToken) AS token FROM playback_events
          WHERE eventTime >= toDateTime64('${chTime(min)}', 3, 'UTC') AND eventTime <= toDateTime64('${chTime(max)}', 3, 'UTC')
            AND eventId IN (${list}) GROUP BY eventId`,
        format: 'JSONEachRow',
      });
      for (const r of await rs.json<{ id: string; token: string }>()) present.set(r.id, r.token);
    }
    return present;
  }
}

const DAY_MS = 86_400_000;

const STAGE_COLUMNS = EVENT_COLUMN_NAMES.join(', ');

/**
 * The write path of one block (rows of one day, <= maxBatchRows): step 1 raw rows tagged with the
 * token, step 2 the views fed from raw under the same token. Exported for the benchmark's anchor.
 */
export async function writeEventBlock(olap: ClickHouseClient, block: EventRow[], token: string): Promise<void> {
  checkToken(token);
  let min = block[0].eventTime;
  let max = min;
  for (const r of block) {
    if (r.eventTime < min) min = r.eventTime;
    else if (r.eventTime > max) max = r.eventTime;
  }
  await writeBody(olap, rowsBody(block, token), token, { min, max });
}

/** writeEventBlock for rows already serialized with their token (`body`), eventTime within `bounds`. */
async function writeBody(olap: ClickHouseClient, body: Buffer, token: string, bounds: { min: string; max: string }): Promise<void> {
  checkToken(token);
  // Serialized here and handed over as bytes (olap insertRaw): on chDB the engine's parser reads them
  // as they are, instead of the client stringifying rows into the SQL text (~1.5x the CPU per row).
  // They land in playback_events_in (Null, plain String columns), whose one view hands the block to the
  // raw table under the same token (schema.ts): ~0.8-1 us less CPU per row than parsing into the raw
  // table's LowCardinality columns. Still one block, one raw part: all-or-nothing, retried in place.
  await insertRaw(olap, {
    table: 'playback_events_in',
    columns: [...EVENT_COLUMN_NAMES],
    format: 'JSONCompactEachRow',
    body,
    settings: { insert_deduplication_token: token, deduplicate_blocks_in_dependent_materialized_views: 1 },
  });
  await feedViews(olap, token, bounds);
}

/** Tokens are inlined into SQL (feedViews): ours are hex or UUIDs; anything else is refused. */
function checkToken(token: string): void {
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(token)) throw new Error(`analytics: unexpected batch token ${JSON.stringify(token.slice(0, 40))}`);
}

/**
 * Step 2: copy the block with this token from raw into the Null stage table, whose views aggregate it
 * (columnar, no second JSON parse). One block per token (a consumer block is far below ClickHouse's
 * min_insert_block_size_rows), so the views' deduplication tokens are the same on every run.
 */
async function feedViews(olap: ClickHouseClient, token: string, bounds?: { min: string; max: string }): Promise<void> {
  // The block's event-time range, when known, prunes the lookup to its day partition (one block is one
  // day): otherwise every insert would check the token index of every part the raw table holds (30 days).
  // A replay after a redelivery knows only the token and scans; it selects the same rows either way.
  const range = bounds
    ? ` AND eventTime >= toDateTime64({min:String}, 3, 'UTC') AND eventTime <= toDateTime64({max:String}, 3, 'UTC')`
    : '';
  // The settings are part of the statement, not clickhouse_settings: over chDB those become SET
  // statements that stay on the session, and a token left there deduplicated every later insert of the
  // process that named no token of its own (the benchmark's bulk load kept 1 of 10 blocks). A token is
  // ours (hex, or what a past insert stored), checked before it is inlined.
  checkToken(token);
  await olap.command({
    query:
      `INSERT INTO playback_events_stage (${STAGE_COLUMNS})` +
      // Not parallel_view_processing: measured on two shared cores it cost ~30% more CPU and more wall time.
      ` SETTINGS insert_deduplication_token = '${token}', deduplicate_blocks_in_dependent_materialized_views = 1` +
      ` SELECT ${STAGE_COLUMNS} FROM playback_events WHERE batchToken = {token:String}${range}`,
    query_params: bounds ? { token, min: bounds.min, max: bounds.max } : { token },
  });
}

const TYPES = new Set<string>(BEACON_TYPES);
const isUInt32 = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
const optUInt32 = (v: unknown) => v === undefined || v === null || isUInt32(v);
const isTime = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 7258118400000; // < 2200
const isStr = (v: unknown, max: number) => typeof v === 'string' && v.length <= max;

/**
 * The collector validated every event with zod; this re-checks, cheaply, exactly what could make a
 * ClickHouse insert fail (types and ranges of typed columns), so a foreign or corrupt message is
 * skipped and counted instead of blocking its partition forever.
 */
function isStorableEnvelope(x: unknown): x is TBeaconEnvelope {
  const env = x as TBeaconEnvelope;
  if (!env || env.v !== 1 || !isTime(env.receivedAt) || !Array.isArray(env.events) || env.events.length === 0) return false;
  if (!(env.userId === null || isStr(env.userId, 64))) return false;
  for (const e of env.events) {
    if (!e || typeof e !== 'object') return false;
    if (typeof e.eventId !== 'string') return false; // a lower-case UUID: RowText.add parses it (once) and refuses the envelope otherwise
    if (!isStr(e.sessionId, 128) || !isStr(e.trackId, 64) || !TYPES.has(e.type)) return false;
    if (!isTime(e.eventTime) || !Number.isSafeInteger(e.ts) || !isUInt32(e.positionMs)) return false;
    if (!optUInt32(e.startupMs) || !optUInt32(e.bufferMs) || !optUInt32(e.durationMs)) return false;
    if (e.rendition !== undefined && (!e.rendition || !isStr(e.rendition.codec, 32) || !isUInt32(e.rendition.bitrateKbps))) return false;
    if (e.errorCode !== undefined && !isStr(e.errorCode, 64)) return false;
    if (e.edgeId !== undefined && !isStr(e.edgeId, 64)) return false;
    if (e.cmcd !== undefined && (typeof e.cmcd !== 'object' || e.cmcd === null)) return false;
  }
  return true;
}

/** Parse one bus message; invalid ones (other producers, corruption) are counted and skipped. */
function parseMessage(m: ReceivedMessage): TBeaconEnvelope | null {
  let json: unknown;
  try {
    json = JSON.parse(m.value.toString('utf8'));
  } catch {
    return null;
  }
  return isStorableEnvelope(json) ? json : null;
}

export async function createAnalyticsConsumer(deps: AnalyticsConsumerDeps, options: AnalyticsConsumerOptions = {}): Promise<AnalyticsConsumer> {
  const opts = {
    topic: options.topic ?? PLAYBACK_EVENTS_TOPIC,
    groupId: options.groupId ?? 'analytics-writer',
    // Measured (chDB, full write path): ~50-70 ms fixed cost per insert; 1k rows/insert ~14k rows/s,
    // 5k ~35-48k, 20k ~36k, 50k ~54-65k. Batches grow this large only when the writer is saturated
    // (pending rows accumulate while one insert runs), where throughput matters more than latency.
    maxBatchRows: options.maxBatchRows ?? 50_000,
    // Both buses hand several partitions' batches over at once (Kafka: partitionsConsumedConcurrently
    // below); a short linger lets one fetch's batches coalesce into one insert, which costs ClickHouse
    // far less per row than several small ones. The time bound on freshness stays well under a second.
    // Kafka: 200 ms, a bound rarely reached under load (the insert starts as soon as every member has
    // handed its rows over, see BatchWriter); it lets the members' next fetches join one insert.
    lingerMs: options.lingerMs ?? (deps.bus.kind === 'memory' ? 50 : 200),
    partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? Math.max(6, deps.config?.KAFKA_PARTITIONS ?? 6),
    maxMessagesPerBatch: options.maxMessagesPerBatch ?? 2000,
    retryBackoffMs: options.retryBackoffMs ?? 200,
    maxRetryBackoffMs: options.maxRetryBackoffMs ?? 10_000,
    dedupMemory: options.dedupMemory ?? 500_000,
    fetchers: Math.max(1, Math.floor(options.fetchers ?? (deps.bus.kind === 'kafka' ? 2 : 1))),
  };
  const logger = deps.logger.child({ component: 'analytics-consumer' });
  const m = analyticsMetrics(deps.metrics);
  const stats: AnalyticsConsumerStats = { inserted: 0, duplicates: 0, invalid: 0, batches: 0, insertFailures: 0, lookups: 0, replays: 0 };
  if (options.migrate !== false) await ensureAnalyticsSchema(deps.olap);
  await deps.bus.ensureTopic(opts.topic, { partitions: deps.config?.KAFKA_PARTITIONS });
  const writer = new BatchWriter(deps.olap, logger, m, stats, opts, deps.bus.kind === 'kafka' ? opts.fetchers : 0);
  // Next offset this process expects per partition; anything else is a redelivery (restart, rebalance, retry).
  const expected = new Map<number, string>();

  const subscribe = (member: number) => deps.bus.subscribe({
    topic: opts.topic,
    groupId: opts.groupId,
    maxBatchSize: opts.maxMessagesPerBatch,
    fromBeginning: true,
    sessionTimeoutMs: options.sessionTimeoutMs,
    partitionsConsumedConcurrently: opts.partitionsConsumedConcurrently,
    // kafkajs' default, 1 MB per partition per fetch, is ~50 envelopes (5k events): 6 partitions could
    // then never hand over more than ~30k rows for one insert.
    maxBytesPerPartition: 4 << 20,
    eachBatch: async (messages, ctx) => {
      if (messages.length === 0) return;
      const partition = ctx.partition;
      const uncertain = expected.get(partition) !== messages[0].offset;
      // Envelopes are turned into row text as they are parsed (RowText): the parsed objects die young.
      let bytes = 0;
      for (const msg of messages) bytes += msg.value.length;
      const rows = new RowText(Math.max(16, messages.length * 8), Math.ceil(bytes * 1.25) + 4096);
      let invalid = 0;
      for (const msg of messages) {
        const env = parseMessage(msg);
        if (!env || !rows.add(env)) invalid++;
      }
      if (invalid > 0) {
        stats.invalid += invalid;
        m.consumerEvents.inc({ outcome: 'invalid' }, invalid);
        logger.warn({ partition, invalid }, 'analytics: skipped messages that are not beacon envelopes');
      }
      expected.delete(partition);
      if (rows.count > 0) await writer.submit({ member, rows, uncertain, heartbeat: ctx.heartbeat });
      expected.set(partition, (BigInt(messages[messages.length - 1].offset) + 1n).toString());
    },
  });
  // Several members of the group in this process (Kafka): kafkajs fetches again for a member only once
  // its batches are handled, i.e. after the insert they joined. With one member, fetching and parsing
  // the next rows waited for ClickHouse and ClickHouse waited for them; with two, one member's rows are
  // fetched and parsed while the other's are inserted, and join the next insert (group commit).
  const consumers: Consumer[] = [];
  for (let i = 0; i < opts.fetchers; i++) consumers.push(await subscribe(i));
  logger.info({ topic: opts.topic, groupId: opts.groupId, fetchers: opts.fetchers }, 'analytics consumer started');

  return {
    stats,
    async stop() {
      writer.stop();
      await Promise.all(consumers.map((c) => c.stop()));
      await writer.drained();
    },
  };
}

export { chTime };
