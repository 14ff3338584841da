/**
 * Purges: a deleted track, or the older versions of a republished one, must stop being served by
 * every edge at once, although their grants are still valid and their segments are `immutable`.
 *
 * The catalog (delete) and the packager (a newer version published) put a ZCachePurge on the bus
 * topic `cache.purge`. Every edge reads it with a consumer group of its own (a shared group would
 * hand each message to one edge only), evicts the track's objects from memory and remembers a
 * tombstone: until every grant that could name those objects has expired (PLAYBACK_GRANT_TTL), a
 * request for them is answered 410 without asking upstream. The tombstone is what makes the purge
 * hold against races: the catalog deletes the bytes in the background, so the origin may still have
 * them for a moment, and a fetch already in flight when the purge arrives must not re-cache them.
 *
 * A fresh group per process start reads the topic from the beginning: an edge that was down (or
 * restarted with a disk tier) rebuilds the tombstones it missed. Purges older than the grant TTL are
 * skipped, since no grant can reach those objects any more.
 */
import { randomUUID } from 'node:crypto';
import type { Bus, Consumer } from '@platform/bus';
import type { Logger } from '@platform/logging';
import { CACHE_PURGE_TOPIC, ZCachePurge, type TCachePurge } from '@platform/models';

interface Tombstone {
  /** Versions below this are gone (Infinity: every version). */
  beforeVersion: number;
  /** Epoch ms after which no grant for those versions can be valid. */
  until: number;
}

/** Tombstones by track id. Lookups happen only on the slow path (a cache miss), never on a hit. */
export class PurgeList {
  private readonly byTrack = new Map<string, Tombstone>();

  constructor(private readonly ttlMs: number) {}

  get size(): number {
    return this.byTrack.size;
  }

  /** Record a purge; false when it is too old to matter (every grant it could concern has expired). */
  add(p: Pick<TCachePurge, 'trackId' | 'beforeVersion'>, atMs: number, now = Date.now()): boolean {
    const until = atMs + this.ttlMs;
    if (until <= now) return false;
    const beforeVersion = p.beforeVersion ?? Infinity;
    const old = this.byTrack.get(p.trackId);
    this.byTrack.set(p.trackId, old ? { beforeVersion: Math.max(old.beforeVersion, beforeVersion), until: Math.max(old.until, until) } : { beforeVersion, until });
    if (this.byTrack.size > 10_000 && this.byTrack.size % 1000 === 0) this.prune(now);
    return true;
  }

  isPurged(trackId: string, version: number, now = Date.now()): boolean {
    if (this.byTrack.size === 0) return false;
    const t = this.byTrack.get(trackId);
    if (t === undefined) return false;
    if (now >= t.until) {
      this.byTrack.delete(trackId);
      return false;
    }
    return version < t.beforeVersion;
  }

  private prune(now: number): void {
    for (const [id, t] of this.byTrack) if (now >= t.until) this.byTrack.delete(id);
  }
}

export interface PurgeSubscription {
  /** 'connecting' until the first subscribe call returned, then 'ok'; the last error otherwise. */
  state(): string;
  stop(): Promise<void>;
}

/**
 * Consume `cache.purge` with a group unique to this edge process. Subscribing never blocks the edge
 * (it serves while Kafka is unreachable) and is retried until it works or stop() is called.
 */
export function subscribePurges(bus: Bus, edgeId: string, logger: Logger, onPurge: (p: TCachePurge, atMs: number) => void): PurgeSubscription {
  const groupId = `edge-purge.${edgeId}.${randomUUID()}`;
  let consumer: Consumer | null = null;
  let state = 'connecting';
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;

  const attempt = async (): Promise<void> => {
    try {
      const c = await bus.subscribe({
        topic: CACHE_PURGE_TOPIC,
        groupId,
        fromBeginning: true,
        maxBatchSize: 500,
        // A dead edge's group is its own: nobody waits for its partitions, so a short session is fine.
        sessionTimeoutMs: 10_000,
        eachBatch: async (messages) => {
          for (const m of messages) {
            let p: TCachePurge;
            try {
              p = ZCachePurge.parse(JSON.parse(m.value.toString('utf8')));
            } catch (err) {
              // Unreadable by any edge, ever: log and move on rather than block the partition.
              logger.error({ err, partition: m.partition, offset: m.offset }, 'invalid cache.purge message: dropped');
              continue;
            }
            onPurge(p, Date.parse(p.at));
          }
        },
      });
      if (stopped) {
        await c.stop();
        return;
      }
      consumer = c;
      state = 'ok';
      logger.debug({ groupId }, 'purge consumer subscribed');
    } catch (err) {
      state = (err as Error).message || 'subscribe failed';
      logger.warn({ err, groupId }, 'purge consumer could not subscribe; retrying in 5 s (deleted tracks stay cached until it does)');
      if (!stopped) retry = setTimeout(() => void attempt(), 5000);
    }
  };
  void attempt();

  return {
    state: () => state,
    async stop() {
      stopped = true;
      clearTimeout(retry);
      await consumer?.stop().catch(() => undefined);
      consumer = null;
    },
  };
}
