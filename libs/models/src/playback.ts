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
