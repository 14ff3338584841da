/**
 * The beacon collector's core, without HTTP: validate events one by one, enrich them with what only
 * the server knows, and hand them to the bus through a small producer that batches concurrent
 * requests into one send and, when the bus does not acknowledge, keeps accepted events in a bounded
 * in-memory buffer that it retries with backoff. A full buffer is the only reason to refuse (503).
 */
import type { Bus, BusMessage } from '@platform/bus';
import type { Cache } from '@platform/cache';
import type { Logger } from '@platform/logging';
import { BEACON_TYPES, ZBeaconEvent, type TBeaconEnvelope, type TBeaconEvent } from '@platform/models';
import type { AnalyticsMetrics } from './metrics';

export interface CollectorOptions {
  topic: string;
  /** Accepted events the collector may hold while the bus is down (default 50 000). */
  maxBufferedEvents?: number;
  /** A send not acknowledged within this is treated as failed; its events stay buffered (default 5 s). */
  sendTimeoutMs?: number;
  /** Requests per session per minute (default 120; our player sends about 6). */
  sessionRequestsPerMinute?: number;
  /** Linger before a send, to group concurrent requests into one produce (default 2 ms). */
  lingerMs?: number;
  /** Messages per bus send (default 500). */
  maxMessagesPerSend?: number;
}

/** Events older than this (client clock) are refused: the raw table keeps 30 days, charts far less. */
const MAX_AGE_MS = 7 * 86400_000;
/** Client clocks ahead by more than this are not trusted; the server time is used instead. */
const MAX_AHEAD_MS = 5 * 60_000;

export type DropReason = 'invalid' | 'stale' | 'rate_limited' | 'duplicate_in_request';

export interface ValidatedEvents {
  valid: TBeaconEvent[];
  dropped: Partial<Record<DropReason, number>>;
  firstIssue: string | null;
}

const UUID_ANY = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$/;
const SESSION_ID = /^[A-Za-z0-9_-]{8,128}$/;
const TRACK_ID = /^[A-Za-z0-9_-]{1,64}$/;
const CODEC = /^[A-Za-z0-9._-]{1,32}$/;
const EDGE_ID = /^[A-Za-z0-9_.-]{1,64}$/;
const EVENT_TYPES = new Set<unknown>(BEACON_TYPES);
const isMs = (v: unknown, max: number): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= max;
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The common case of `ZBeaconEvent.parse`, written out: an event this accepts is one zod accepts, and
 * the object it returns is the one zod would (known keys only, in the schema's order). Anything it is
 * unsure of (a `cmcd` object, the nil/max UUIDs, any failed check) returns null and goes through zod,
 * which decides and words the error. zod per event was ~6-7% of the collector's thread at 25k events/s;
 * `test/collector-validate.test.ts` holds the two to the same answers over a corpus.
 */
export function fastBeaconEvent(x: unknown): TBeaconEvent | null {
  if (!isPlainObject(x)) return null;
  const { v, eventId, sessionId, trackId, type, ts, positionMs, rendition, startupMs, bufferMs, durationMs, errorCode, edgeId, cmcd } = x;
  if (v !== 1 || typeof eventId !== 'string' || !UUID_ANY.test(eventId)) return null;
  if (typeof sessionId !== 'string' || !SESSION_ID.test(sessionId) || typeof trackId !== 'string' || !TRACK_ID.test(trackId)) return null;
  if (!EVENT_TYPES.has(type) || !isMs(ts, 8.64e15) || !isMs(positionMs, 24 * 3600_000)) return null;
  // A key present with the value undefined (never from JSON) is kept by zod as such: its path decides.
  if (cmcd !== undefined || 'cmcd' in x) return null;
  const out: TBeaconEvent = { v: 1, eventId, sessionId, trackId, type: type as TBeaconEvent['type'], ts, positionMs };
  if (rendition === undefined) {
    if ('rendition' in x) return null;
  } else {
    if (!isPlainObject(rendition)) return null;
    const { codec, bitrateKbps } = rendition;
    if (typeof codec !== 'string' || !CODEC.test(codec) || !isMs(bitrateKbps, 100_000)) return null;
    out.rendition = { codec, bitrateKbps };
  }
  for (const [key, value, max] of [['startupMs', startupMs, 600_000], ['bufferMs', bufferMs, 3600_000], ['durationMs', durationMs, 3600_000]] as const) {
    if (value === undefined) {
      if (key in x) return null;
    } else {
      if (!isMs(value, max)) return null;
      out[key] = value;
    }
  }
  if (errorCode === undefined) {
    if ('errorCode' in x) return null;
  } else {
    if (typeof errorCode !== 'string' || errorCode.length > 64) return null;
    out.errorCode = errorCode;
  }
  if (edgeId === undefined) {
    if ('edgeId' in x) return null;
  } else {
    if (typeof edgeId !== 'string' || !EDGE_ID.test(edgeId)) return null;
    out.edgeId = edgeId;
  }
  return out;
}

/** Validate each event on its own: one bad event never costs the others. */
export function validateEvents(raw: unknown[], now: number): ValidatedEvents {
  const valid: TBeaconEvent[] = [];
  const dropped: Partial<Record<DropReason, number>> = {};
  const seen = new Set<string>();
  let firstIssue: string | null = null;
  const drop = (r: DropReason) => (dropped[r] = (dropped[r] ?? 0) + 1);
  for (let i = 0; i < raw.length; i++) {
    let e = fastBeaconEvent(raw[i]);
    if (!e) {
      const r = ZBeaconEvent.safeParse(raw[i]);
      if (!r.success) {
        drop('invalid');
        if (!firstIssue) {
          const issue = r.error.issues[0];
          firstIssue = `events.${i}${issue.path.length ? '.' + issue.path.join('.') : ''}: ${issue.message}`;
        }
        continue;
      }
      e = r.data;
    }
    if (e.ts < now - MAX_AGE_MS) {
      drop('stale');
      firstIssue ??= `events.${i}.ts: older than 7 days`;
      continue;
    }
    // A fresh object either way (the fast path's or zod's): the id is normalized in place.
    e.eventId = e.eventId.toLowerCase();
    if (seen.has(e.eventId)) {
      drop('duplicate_in_request');
      continue;
    }
    seen.add(e.eventId);
    valid.push(e);
  }
  return { valid, dropped, firstIssue };
}

/** The time counters use: the client's, unless it is in the future by more than a few minutes. */
export function eventTimeOf(ts: number, receivedAt: number): number {
  if (ts > receivedAt + MAX_AHEAD_MS) return receivedAt;
  return Math.min(ts, receivedAt);
}

/** One envelope per session in the request (a request normally holds one session). */
export function toEnvelopes(events: TBeaconEvent[], receivedAt: number, userId: string | null): TBeaconEnvelope[] {
  return toEnvelopesInPlace(events.map((e) => ({ ...e })), receivedAt, userId);
}

/**
 * One envelope per session, for events the caller owns (validateEvents' fresh objects): `eventTime` is set
 * on them (toEnvelopes copies first), and a request of one session (the usual case) needs no grouping.
 */
export function toEnvelopesInPlace(events: TBeaconEvent[], receivedAt: number, userId: string | null): TBeaconEnvelope[] {
  const owned = events as TBeaconEnvelope['events'];
  if (owned.length === 0) return [];
  for (const e of owned) e.eventTime = eventTimeOf(e.ts, receivedAt);
  const first = owned[0].sessionId;
  if (owned.every((e) => e.sessionId === first)) return [{ v: 1, receivedAt, userId, sessionId: first, events: owned }];
  const bySession = new Map<string, TBeaconEnvelope>();
  for (const e of owned) {
    let env = bySession.get(e.sessionId);
    if (!env) {
      env = { v: 1, receivedAt, userId, sessionId: e.sessionId, events: [] };
      bySession.set(e.sessionId, env);
    }
    env.events.push(e);
  }
  return [...bySession.values()];
}

/** Fixed-window rate limit per session on the shared cache; false when the session is over its budget. */
export async function allowSession(cache: Cache, sessionId: string, perMinute: number, now: number): Promise<boolean> {
  const window = Math.floor(now / 60_000);
  const n = await cache.incr(`beacons:rl:${sessionId}:${window}`, 120_000);
  return n <= perMinute;
}

interface Queued {
  messages: BusMessage[];
  events: number;
}

export type SubmitOutcome = 'sent' | 'buffered' | 'refused';

/**
 * Producer with a bounded buffer. Healthy: requests wait for the broker's acknowledgement (202 means
 * "in Kafka"). Unhealthy: requests are answered from the buffer at once (202 means "in this process,
 * retried until Kafka takes it"); when the buffer is full, `refused` (503). A send that timed out may
 * still land later, and be retried too: the event ids make that harmless downstream.
 */
export class BeaconProducer {
  private waiting: Array<Queued & { done: (o: SubmitOutcome) => void }> = [];
  private backlog: Queued[] = [];
  private held = 0; // events in waiting + backlog + in flight
  private healthy = true;
  private timer: NodeJS.Timeout | null = null;
  private sending = false;
  private retryDelay = 250;
  private pendingSend: Promise<boolean> | null = null;
  private closed = false;
  private readonly maxBuffered: number;
  private readonly sendTimeoutMs: number;
  private readonly lingerMs: number;
  private readonly maxPerSend: number;

  constructor(
    private readonly bus: Bus,
    private readonly topic: string,
    private readonly logger: Logger,
    private readonly m: AnalyticsMetrics,
    opts: CollectorOptions,
  ) {
    this.maxBuffered = opts.maxBufferedEvents ?? 50_000;
    this.sendTimeoutMs = opts.sendTimeoutMs ?? 5000;
    this.lingerMs = opts.lingerMs ?? 2;
    this.maxPerSend = opts.maxMessagesPerSend ?? 500;
  }

  get isHealthy(): boolean {
    return this.healthy;
  }

  /** Accepted events the bus has not acknowledged yet (buffered, or in a send that may still fail). */
  get bufferedEvents(): number {
    return this.held;
  }

  submit(messages: BusMessage[], events: number): Promise<SubmitOutcome> {
    if (this.closed || this.held + events > this.maxBuffered) return Promise.resolve('refused');
    this.held += events;
    if (!this.healthy) {
      this.backlog.push({ messages, events });
      this.m.beaconBuffered.set(this.bufferedEvents);
      return Promise.resolve('buffered');
    }
    return new Promise((done) => {
      this.waiting.push({ messages, events, done });
      this.schedule(this.lingerMs);
    });
  }

  private schedule(delay: number): void {
    if (this.timer || this.sending) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.pump();
    }, delay);
  }

  /** Send the backlog first (order per session), then the waiting requests, a chunk per send. */
  private async pump(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      while (this.backlog.length > 0 || this.waiting.length > 0) {
        const fromBacklog = this.backlog.length > 0;
        const chunk: Array<Queued & { done?: (o: SubmitOutcome) => void }> = [];
        let count = 0;
        const source = fromBacklog ? this.backlog : this.waiting;
        while (source.length > 0 && (count === 0 || count + source[0].messages.length <= this.maxPerSend)) {
          const q = source.shift()!;
          chunk.push(q);
          count += q.messages.length;
        }
        const ok = await this.trySend(chunk.flatMap((q) => q.messages));
        if (ok) {
          for (const q of chunk) {
            this.held -= q.events;
            q.done?.('sent');
          }
          this.m.beaconBuffered.set(this.bufferedEvents);
          if (!this.healthy) this.logger.info('analytics: bus acknowledges again; buffer draining');
          this.healthy = true;
          this.retryDelay = 250;
        } else {
          // Keep them (in order, at the front) and answer the waiting requests: they are accepted.
          const waiters = fromBacklog ? [] : chunk;
          this.backlog.unshift(...chunk.map((q) => ({ messages: q.messages, events: q.events })));
          for (const q of waiters) q.done?.('buffered');
          for (const q of this.waiting.splice(0)) {
            this.backlog.push({ messages: q.messages, events: q.events });
            q.done('buffered');
          }
          this.m.beaconBuffered.set(this.bufferedEvents);
          if (this.healthy) this.logger.warn({ buffered: this.bufferedEvents }, 'analytics: bus did not acknowledge; buffering beacons');
          this.healthy = false;
          if (this.closed) return;
          const delay = this.retryDelay;
          this.retryDelay = Math.min(this.retryDelay * 2, 5000);
          this.sending = false;
          this.schedule(delay);
          return;
        }
      }
    } finally {
      this.sending = false;
    }
  }

  /**
   * One send at a time, also across timeouts: a send this gave up on may still be retrying inside the bus
   * client, so the next attempt first waits for it (bounded) instead of piling a second copy of the same
   * events onto a broker that is down.
   */
  private async trySend(messages: BusMessage[]): Promise<boolean> {
    if (this.pendingSend && (await settledWithin(this.pendingSend, this.sendTimeoutMs)) === undefined) {
      this.m.produceFailures.inc();
      return false;
    }
    const settled = this.bus.send(this.topic, messages).then(
      () => true,
      (e: unknown) => {
        this.logger.debug({ err: e }, 'analytics: bus send failed');
        return false;
      },
    );
    this.pendingSend = settled;
    void settled.then(() => {
      if (this.pendingSend === settled) this.pendingSend = null;
    });
    const ok = (await settledWithin(settled, this.sendTimeoutMs)) === true;
    if (!ok) this.m.produceFailures.inc();
    return ok;
  }

  /** Try to hand the buffer to the bus once more (bounded by `timeoutMs`), then refuse new work. */
  async close(timeoutMs = 5000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while ((this.backlog.length > 0 || this.waiting.length > 0 || this.sending) && Date.now() < deadline) {
      if (this.timer) {
        clearTimeout(this.timer);
        this.timer = null;
      }
      if (!this.sending) void this.pump();
      await new Promise((r) => setTimeout(r, 50));
    }
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    const lost = this.bufferedEvents;
    if (lost > 0) this.logger.error({ lost }, 'analytics: closing with beacons the bus never acknowledged');
    return lost;
  }
}

/** The promise's value if it settles within `ms`, else undefined. */
async function settledWithin<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
