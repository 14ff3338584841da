/**
 * PUT /api/tracks/:id/cover and DELETE /api/tracks/:id/cover: swap (or drop) a track's cover alone,
 * without touching its audio or versions. The body is the image itself (any Content-Type but JSON,
 * e.g. `image/jpeg` or `application/octet-stream`) or multipart/form-data with the image in a part
 * named `cover` (or `file`). It is checked by content (sharp decodes it; the name and the header are
 * never trusted), resized to the same sizes as ingest's covers (COVER_SIZES) under a NEW key
 * (covers/{trackId}/{coverId}), then the row points at it, the catalog's cached documents are dropped
 * and the previous ingest-written cover objects are removed.
 *
 * Who: the owner of the track's artist, or an admin. Like the catalog's PATCH/DELETE, a track the caller
 * can see (published) but does not own answers 403 `forbidden`; one they cannot see answers 404.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { MultipartFile } from '@fastify/multipart';
import { AppError } from '@platform/errors';
import { coverVersion, invalidateTrack, requireUser, type SessionUser } from '@platform/catalog';
import { COVER_MAX_BYTES, COVER_SIZES, storeCover } from './cover';
import { findTrack, setTrackCoverKey, type TrackRecord } from './track-store';
import { ByteLimit } from './upload-route';
import type { SubmitContext } from './submit';


/** Covers written by ingest live under covers/{trackId}/; anything else (the packager's per-version cover) is left alone. */
function ingestCoverPrefix(trackId: string, coverKey: string | null): string | null {
  return coverKey && coverKey.startsWith(`covers/${trackId}/`) ? `${coverKey.replace(/\/+$/, '')}/` : null;
}

const tooBig = () => new AppError('payload_too_large', `The cover image is larger than ${COVER_MAX_BYTES / 1024 / 1024} MiB; use a smaller picture.`, { extra: { limitBytes: COVER_MAX_BYTES } });

/** Owner or admin; 404 for a track the caller cannot even see (ids of unpublished tracks are not disclosed). */
async function requireCoverOwner(ctx: SubmitContext, user: SessionUser, trackId: string): Promise<TrackRecord> {
  const track = await findTrack(ctx.deps.sql, trackId);
  const isOwner = track !== null && (user.role === 'admin' || (track.ownerUserId !== null && track.ownerUserId === user.id));
  if (!track || (!isOwner && track.publishedVersion === null)) throw new AppError('not_found', 'No track with this id (or it is not visible to you).');
  if (!isOwner) throw new AppError('forbidden', 'This track belongs to another musician; you can only change the cover of your own tracks.');
  return track;
}

/** The image bytes to a private temp file: a multipart part, or the raw body. */
async function receiveImage(request: FastifyRequest, reply: FastifyReply, dir: string): Promise<{ filePath: string; bytes: number }> {
  const declared = Number(request.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > COVER_MAX_BYTES + 64 * 1024) {
    reply.header('connection', 'close');
    throw tooBig();
  }
  const filePath = path.join(dir, 'cover');
  const write = async (stream: Readable) => {
    const counter = new ByteLimit(COVER_MAX_BYTES, tooBig);
    await pipeline(stream, counter, createWriteStream(filePath, { flags: 'wx', mode: 0o600 }));
    return counter.bytes;
  };
  let bytes: number | undefined;
  if (request.isMultipart()) {
    for await (const part of request.parts({ limits: { fileSize: COVER_MAX_BYTES + 1, files: 1, fields: 5, parts: 6 } })) {
      if (part.type !== 'file') continue;
      const file = part as MultipartFile;
      if ((file.fieldname === 'cover' || file.fieldname === 'file') && bytes === undefined) {
        bytes = await write(file.file);
        if (file.file.truncated) throw tooBig();
      } else {
        file.file.resume();
      }
    }
    if (bytes === undefined) throw new AppError('validation_failed', 'No image: attach the picture in a form part named "cover".', { extra: { errors: [{ field: 'form.cover', message: 'Required' }] } });
  } else {
    bytes = await write(request.raw);
  }
  if (bytes === 0) throw new AppError('empty_file', 'The cover image is empty (0 bytes). Choose the picture again.');
  return { filePath, bytes };
}

export async function registerCoverRoutes(app: FastifyInstance, ctx: SubmitContext, tmpRoot: string): Promise<void> {
  const { deps } = ctx;
  // Own encapsulation scope: here every body but multipart stays an unread stream (an image, whatever its
  // Content-Type says), while the rest of the API keeps its JSON and text parsers.
  await app.register(async (scope) => {
    scope.removeContentTypeParser(['application/json', 'text/plain']);
    scope.addContentTypeParser('*', (_req, _payload, done) => done(null));

    scope.put<{ Params: { id: string } }>('/api/tracks/:id/cover', async (request, reply) => {
      const user = requireUser(request);
      const before = await requireCoverOwner(ctx, user, request.params.id);
      await mkdir(tmpRoot, { recursive: true });
      const dir = await mkdtemp(path.join(tmpRoot, 'cover-'));
      try {
        const image = await receiveImage(request, reply, dir);
        const coverKey = `covers/${before.id}/${randomUUID()}`;
        try {
          await storeCover(deps.objects, coverKey, image.filePath); // unsupported_format when sharp cannot read it
        } catch (e) {
          await deps.objects.deletePrefix(`${coverKey}/`).catch(() => undefined);
          throw e;
        }
        const previous = await setTrackCoverKey(deps.sql, before.id, coverKey);
        if (previous === undefined) {
          // Deleted while the image was being processed.
          await deps.objects.deletePrefix(`${coverKey}/`).catch(() => undefined);
          throw new AppError('not_found', 'No track with this id (or it is not visible to you).');
        }
        await invalidateTrack(deps.cache, before.id);
        const old = ingestCoverPrefix(before.id, previous);
        if (old && old !== `${coverKey}/`) await deps.objects.deletePrefix(old).catch((err: unknown) => request.log.warn({ err, trackId: before.id }, 'old cover objects not removed'));
        request.log.info({ trackId: before.id, bytes: image.bytes }, 'cover replaced');
        const v = coverVersion(coverKey)!;
        return {
          id: before.id,
          hasCover: true,
          coverVersion: v,
          covers: Object.fromEntries(COVER_SIZES.map((s) => [String(s), `/api/tracks/${before.id}/cover?size=${s}&v=${v}`])),
        };
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    scope.delete<{ Params: { id: string } }>('/api/tracks/:id/cover', async (request, reply) => {
      const user = requireUser(request);
      const before = await requireCoverOwner(ctx, user, request.params.id);
      const previous = await setTrackCoverKey(deps.sql, before.id, null);
      if (previous === undefined) throw new AppError('not_found', 'No track with this id (or it is not visible to you).');
      await invalidateTrack(deps.cache, before.id);
      const old = ingestCoverPrefix(before.id, previous);
      if (old) await deps.objects.deletePrefix(old).catch(() => undefined);
      return reply.code(204).send();
    });
  });
}
