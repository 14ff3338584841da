/**
 * Cover art and waveform peaks of a track through the web API, read from the object keys stored on
 * the track (cover_key, peaks_key). Published tracks are public and cached long; the owner may also
 * see them while the track is still processing (private, not cached).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AppError } from '@platform/errors';
import { parseOr400 } from '@platform/http';
import type { ObjectInfo } from '@platform/storage';
import { COVER_SIZES, coverKeyCandidates, type CoverSize } from './cover';
import { findTrack, type TrackRecord } from './track-store';
import { coverVersion } from '@platform/catalog';
import type { SubmitContext } from './submit';

const ZCoverQuery = z.object({
  size: z.coerce
    .number()
    .int()
    .refine((n) => (COVER_SIZES as readonly number[]).includes(n), `must be one of ${COVER_SIZES.join(', ')}`)
    .default(300),
  /** coverVersion of the cover the client expects (cache busting): a new cover is a new URL. */
  v: z.string().max(64).optional(),
});

/**
 * Plain URLs are revalidated hourly (ETag -> 304), so a replaced cover reaches listeners within about an
 * hour; a URL carrying the current cover version (`?v=`) never changes content and is cached for good.
 */
const PUBLIC_CACHE = 'public, max-age=3600, stale-while-revalidate=86400';
const IMMUTABLE_CACHE = 'public, max-age=31536000, immutable';

function visibility(request: FastifyRequest, track: TrackRecord | null): 'public' | 'private' | null {
  if (!track) return null;
  if (track.publishedVersion !== null) return 'public';
  const u = request.user;
  if (u && (u.role === 'admin' || u.id === track.ownerUserId)) return 'private';
  return null;
}

async function sendObject(ctx: SubmitContext, request: FastifyRequest, reply: FastifyReply, keys: string[], vis: 'public' | 'private' | 'immutable', contentType?: string) {
  let info: ObjectInfo | null = null;
  let key = '';
  for (const k of keys) {
    info = await ctx.deps.objects.head(k);
    if (info) {
      key = k;
      break;
    }
  }
  if (!info) throw new AppError('not_found', 'This track has no such image or data yet.');
  reply.header('etag', info.etag).header('last-modified', info.lastModified.toUTCString()).header('cache-control', vis === 'immutable' ? IMMUTABLE_CACHE : vis === 'public' ? PUBLIC_CACHE : 'private, no-cache');
  reply.header('x-content-type-options', 'nosniff');
  const inm = request.headers['if-none-match'];
  if (inm && inm.split(',').some((t) => t.trim() === info.etag || t.trim() === `W/${info.etag}`)) {
    return reply.code(304).send();
  }
  const obj = await ctx.deps.objects.get(key);
  if (!obj) throw new AppError('not_found', 'This track has no such image or data yet.');
  reply.type(contentType ?? obj.info.contentType ?? 'application/octet-stream').header('content-length', String(obj.info.size));
  return reply.send(obj.body);
}

export function registerAssetRoutes(app: FastifyInstance, ctx: SubmitContext): void {
  app.get<{ Params: { id: string } }>('/api/tracks/:id/cover', async (request, reply) => {
    const { size, v } = parseOr400(ZCoverQuery, request.query, 'query');
    const track = await findTrack(ctx.deps.sql, request.params.id);
    const vis = visibility(request, track);
    if (!track || !vis) throw new AppError('not_found', 'No such track.');
    if (!track.coverKey) throw new AppError('not_found', 'This track has no cover.');
    const isCurrentVersion = v !== undefined && v === coverVersion(track.coverKey);
    return sendObject(ctx, request, reply, coverKeyCandidates(track.coverKey, size as CoverSize), vis === 'public' && isCurrentVersion ? 'immutable' : vis);
  });

  app.get<{ Params: { id: string } }>('/api/tracks/:id/peaks', async (request, reply) => {
    const track = await findTrack(ctx.deps.sql, request.params.id);
    const vis = visibility(request, track);
    if (!track || !vis) throw new AppError('not_found', 'No such track.');
    if (!track.peaksKey) throw new AppError('not_found', 'This track has no waveform yet.');
    return sendObject(ctx, request, reply, [track.peaksKey], vis, 'application/json; charset=utf-8');
  });
}
