/**
 * Playback area: what `GET /api/tracks/:id/playback` answers, and the CMCD (CTA-5004) keys the edge
 * reads from players' requests into its access log.
 */
import { z } from 'zod';
import { ZUuid } from './catalog';

/** Track ids are UUIDs (catalog): anything else is a 400 validation_failed, like every other /api/tracks/:id route. */
export const ZPlaybackParams = z.object({
  id: ZUuid,
});
export type TPlaybackParams = z.infer<typeof ZPlaybackParams>;

/** Signed URLs on the edge host; one grant (in the path) covers that track version's manifests and segments. */
export const ZPlaybackResponse = z.object({
  trackId: z.string(),
  version: z.number().int().nonnegative(),
  hls: z.string().url(),
  dash: z.string().url(),
  /** ISO 8601; fetch a new grant before this (players refresh on 403 invalid_grant). */
  expiresAt: z.string().datetime(),
});
export type TPlaybackResponse = z.infer<typeof ZPlaybackResponse>;

/**
 * CMCD keys as sent by players (hls.js `cmcd` config, dash.js): every key optional; unknown keys are
 * kept as strings so new spec versions do not break parsing. Numbers in kbps / ms per CTA-5004.
 */
export const ZCmcd = z
  .object({
    br: z.number().optional(),
    bl: z.number().optional(),
    bs: z.boolean().optional(),
    cid: z.string().max(128).optional(),
    d: z.number().optional(),
    dl: z.number().optional(),
    mtp: z.number().optional(),
    nor: z.string().max(512).optional(),
    nrr: z.string().max(64).optional(),
    ot: z.string().max(8).optional(),
    pr: z.number().optional(),
    rtp: z.number().optional(),
    sf: z.string().max(8).optional(),
    sid: z.string().max(128).optional(),
    st: z.string().max(8).optional(),
    su: z.boolean().optional(),
    tb: z.number().optional(),
    v: z.number().optional(),
  })
  .catchall(z.union([z.string(), z.number(), z.boolean()]));
export type TCmcd = z.infer<typeof ZCmcd>;

/**
 * Bus topic telling every CDN edge to stop serving a track's objects, keyed by trackId. Each edge
 * consumes it with a consumer group of its own (every edge must see every message). Produced by the
 * catalog when a track is deleted and by the packager when a newer version is published.
 */
export const CACHE_PURGE_TOPIC = 'cache.purge';

export const ZCachePurge = z.object({
  v: z.literal(1),
  /** Same alphabet as the media keys (`tracks/{trackId}/v{n}/...`). */
  trackId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
  reason: z.enum(['deleted', 'republished']),
  /** Versions below this one are gone; absent: every version of the track. */
  beforeVersion: z.number().int().positive().optional(),
  /** ISO 8601, when the catalog changed (edges replaying old purges skip what grants can no longer reach). */
  at: z.string().datetime(),
});
export type TCachePurge = z.infer<typeof ZCachePurge>;

/** The bus message for one purge (key = trackId, so one track's purges stay in order on one partition). */
export function cachePurgeMessage(p: Omit<TCachePurge, 'v' | 'at'> & { at?: string }): { key: string; value: string } {
  const msg: TCachePurge = ZCachePurge.parse({ v: 1, at: new Date().toISOString(), ...p });
  return { key: msg.trackId, value: JSON.stringify(msg) };
}
