/**
 * Live status for the musician's portal: GET /api/tracks/:id/status (one document), GET
 * /api/tracks/:id/events (Server-Sent Events until ready/failed), GET /api/me/tracks (own tracks in
 * every state) and POST /api/tracks/:id/retry. Status lives on the track row; progress is what the
 * packager writes to the cache under ingest:progress:{trackId}.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { AppError } from '@platform/errors';
import { parseOr400 } from '@platform/http';
import { coverVersion, requireRole, requireUser, type SessionUser } from '@platform/catalog';
import { ZIngestProgress, type TIngestProgress } from '@platform/models';
import { findTrack, listOwnedTrackIds, type TrackRecord } from './track-store';
import { progressKey, requireOwnTrack, retryTrack, type SubmitContext } from './submit';


/** What the portal shows per track while it is processed. */
export interface TrackStatusDoc {
  id: string;
  title: string;
  artist: string;
  artistId: string;
  album: string | null;
  albumId: string | null;
  genre: string | null;
  trackNumber: number | null;
  year: number | null;
  isrc: string | null;
  status: TrackRecord['status'];
  version: number;
  publishedVersion: number | null;
  durationMs: number | null;
  /** The source had more than two channels and is streamed downmixed to stereo. */
  downmix: boolean;
  hasCover: boolean;
  /** Changes whenever the cover does: add `&v=` to the cover URL to never see a stale one. */
  coverVersion?: string;
  createdAt: string;
  error?: { code: string; detail: string };
  progress?: TIngestProgress;
}

async function readProgress(ctx: SubmitContext, id: string) {
  try {
    const raw = await ctx.deps.cache.get(progressKey(id));
    if (!raw) return undefined;
    const p = ZIngestProgress.safeParse(JSON.parse(raw));
    return p.success ? p.data : undefined;
  } catch {
    return undefined;
  }
}

export async function statusDoc(ctx: SubmitContext, track: TrackRecord): Promise<TrackStatusDoc> {
  const source = (track.notes.source ?? {}) as { durationMs?: number; downmix?: boolean };
  const doc: TrackStatusDoc = {
    id: track.id,
    title: track.title,
    artist: track.artistName,
    artistId: track.artistId,
    album: track.albumTitle,
    albumId: track.albumId,
    genre: track.genre,
    trackNumber: track.trackNumber,
    year: track.year,
    isrc: track.isrc,
    status: track.status,
    version: track.currentVersion,
    publishedVersion: track.publishedVersion,
    durationMs: track.durationMs ?? source.durationMs ?? null,
    downmix: source.downmix === true,
    hasCover: Boolean(track.coverKey),
    ...(track.coverKey ? { coverVersion: coverVersion(track.coverKey) } : {}),
    createdAt: track.createdAt,
  };
  if (track.status === 'failed') doc.error = { code: track.errorCode ?? 'internal_error', detail: track.errorDetail ?? 'Processing failed.' };
  if (track.status === 'processing') {
    const p = await readProgress(ctx, track.id);
    // A progress record of an older version (a late worker) says nothing about this one.
    doc.progress = p && (p.version === undefined || p.version === track.currentVersion) ? p : { stage: 'queued', percent: 0, updatedAt: track.updatedAt, version: track.currentVersion };
  }
  if (track.status === 'ready') doc.progress = { stage: 'ready', percent: 100, updatedAt: track.updatedAt, version: track.currentVersion };
  return doc;
}

async function ownTrack(ctx: SubmitContext, user: SessionUser, id: string) {
  return requireOwnTrack(ctx, user, id);
}

const ZListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
});

function encodeCursor(createdAt: Date | string, id: string): string {
  return Buffer.from(JSON.stringify([new Date(createdAt).toISOString(), id])).toString('base64url');
}
function decodeCursor(c: string): { createdAt: string; id: string } {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(c, 'base64url').toString('utf8')) as [string, string];
    if (typeof createdAt !== 'string' || typeof id !== 'string') throw new Error('shape');
    return { createdAt, id };
  } catch {
    throw new AppError('validation_failed', 'query.cursor: not a cursor this API returned.');
  }
}

export const SSE_POLL_MS = 1000;
const SSE_HEARTBEAT_MS = 15_000;

export function registerStatusRoutes(app: FastifyInstance, ctx: SubmitContext, opts: { withMyTracks: boolean }): void {
  app.get<{ Params: { id: string } }>('/api/tracks/:id/status', async (request, reply) => {
    const user = requireUser(request);
    const track = await ownTrack(ctx, user, request.params.id);
    reply.header('cache-control', 'no-store');
    return statusDoc(ctx, track);
  });

  app.post<{ Params: { id: string } }>('/api/tracks/:id/retry', async (request, reply) => {
    const user = requireRole(request, 'musician');
    const r = await retryTrack(ctx, user, request.params.id);
    reply.code(202);
    return r;
  });

  app.get<{ Params: { id: string } }>('/api/tracks/:id/events', async (request, reply) => {
    const user = requireUser(request);
    await ownTrack(ctx, user, request.params.id);
    const id = request.params.id;
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      // Proxies (nginx) must not buffer an event stream.
      'x-accel-buffering': 'no',
    });
    res.write(`retry: 2000\n\n`);
    ctx.metrics.sseClients.inc();
    let last = '';
    let closed = false;
    let lastWrite = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const finish = () => {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      ctx.metrics.sseClients.dec();
      res.end();
    };
    request.raw.on('close', finish);
    const tick = async () => {
      if (closed) return;
      try {
        const track = await findTrack(ctx.deps.sql, id);
        if (!track) {
          res.write(`event: gone\ndata: {"id":${JSON.stringify(id)}}\n\n`);
          return finish();
        }
        const doc = await statusDoc(ctx, track);
        // updatedAt of synthetic progress changes every call; compare without it.
        const fingerprint = JSON.stringify({ ...doc, progress: doc.progress && { stage: doc.progress.stage, percent: doc.progress.percent } });
        if (fingerprint !== last) {
          last = fingerprint;
          res.write(`event: status\ndata: ${JSON.stringify(doc)}\n\n`);
          lastWrite = Date.now();
        } else if (Date.now() - lastWrite > SSE_HEARTBEAT_MS) {
          res.write(`: keep-alive\n\n`);
          lastWrite = Date.now();
        }
        if (doc.status !== 'processing') return finish();
      } catch (e) {
        request.log.warn({ err: e, trackId: id }, 'status stream poll failed');
      }
      if (!closed) timer = setTimeout(tick, SSE_POLL_MS);
    };
    await tick();
  });

  if (opts.withMyTracks) {
    app.get('/api/me/tracks', async (request, reply) => {
      const user = requireRole(request, 'musician');
      const q = parseOr400(ZListQuery, request.query, 'query');
      const { rows, hasMore } = await listOwnedTrackIds(ctx.deps.sql, user.id, q.limit, q.cursor ? decodeCursor(q.cursor) : undefined);
      const records = await Promise.all(rows.map((r) => findTrack(ctx.deps.sql, r.id)));
      const tracks = await Promise.all(records.filter((t): t is TrackRecord => t !== null).map((t) => statusDoc(ctx, t)));
      const lastRow = rows[rows.length - 1];
      reply.header('cache-control', 'no-store');
      return { tracks, nextCursor: hasMore && lastRow ? encodeCursor(lastRow.created_at, lastRow.id) : null };
    });
  }
}
