/**
 * Resumable uploads (tus 1.0, @tus/server + @tus/file-store) at /api/uploads/ on the web app, for the
 * portal's large files. A musician creates an upload with Upload-Metadata (filename, title, artist,
 * album, genre), PATCHes chunks, resumes after a drop with HEAD; when the last byte arrives the same
 * validation + job path as POST /api/tracks runs, and the answer carries `Upload-Track-Id`. The
 * outcome is also kept for GET /api/uploads/:id/track (clients that lost the final response).
 * With `replace-track-id` in the metadata the file becomes a new version of that (own) track instead,
 * like POST /api/tracks/:id/replace.
 *
 * Scaling note: the file store and the default in-memory locker are per process; several web
 * processes need a shared upload directory and a shared locker (or sticky routing by upload id).
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Server as TusServer, EVENTS } from '@tus/server';
import { FileStore } from '@tus/file-store';
import type { Upload } from '@tus/utils';
import { AppError, isAppError, toProblem } from '@platform/errors';
import { requireRole, type SessionUser } from '@platform/catalog';
import { requireOwnTrack, submitNewTrack, submitReplacement, type SubmitContext } from './submit';
import { ZUploadFields } from './upload-route';

export const TUS_PATH = '/api/uploads';
const RESULT_TTL_MS = 7 * 86400_000;
/** Finished uploads stay briefly so a client that missed the final response can still HEAD them. */
const FINISHED_GRACE_MS = 60 * 60_000;
const UNFINISHED_EXPIRY_MS = 24 * 3600_000;
const SWEEP_EVERY_MS = 15 * 60_000;

const resultKey = (uploadId: string) => `ingest:upload:${uploadId}`;

export type UploadOutcome =
  | { state: 'accepted'; trackId: string; notices: string[] }
  | { state: 'rejected'; error: { code: string; detail: string; status: number } };

interface TusError {
  status_code: number;
  body: string;
}
const tusError = (e: AppError): TusError => ({ status_code: e.status, body: JSON.stringify(toProblem(e)) });

/** Node request -> the user the auth hook resolved (tus hooks only see a web Request wrapper). */
function nodeReqOf(req: unknown): IncomingMessage | undefined {
  const r = req as { runtime?: { node?: { req?: IncomingMessage } }; node?: { req?: IncomingMessage } };
  return r.runtime?.node?.req ?? r.node?.req;
}

export async function registerTusUploads(app: FastifyInstance, ctx: SubmitContext, dir: string): Promise<void> {
  const { deps } = ctx;
  await mkdir(dir, { recursive: true });
  const users = new WeakMap<IncomingMessage, SessionUser>();
  const datastore = new FileStore({ directory: dir, expirationPeriodInMilliseconds: UNFINISHED_EXPIRY_MS });
  const userOf = (req: unknown): SessionUser => {
    const n = nodeReqOf(req);
    const u = n && users.get(n);
    if (!u) throw tusError(new AppError('unauthenticated', 'Sign in first: uploads need a musician session or API token.'));
    return u;
  };

  const tus = new TusServer({
    path: TUS_PATH,
    datastore,
    maxSize: deps.config.UPLOAD_MAX_BYTES,
    relativeLocation: true,
    respectForwardedHeaders: false,
    exposedHeaders: ['Upload-Track-Id'],
    // The portal is same-origin; no CORS answer (tus would say `*` by default), like the rest of /api.
    allowedOrigins: [],
    namingFunction: () => randomBytes(16).toString('hex'),
    async onUploadCreate(req, upload) {
      const user = userOf(req);
      const meta = upload.metadata ?? {};
      const fields = ZUploadFields.safeParse({ title: meta.title ?? undefined, artist: meta.artist ?? undefined, album: meta.album ?? undefined, genre: meta.genre ?? undefined });
      if (!fields.success) throw tusError(new AppError('validation_failed', `Upload-Metadata: ${fields.error.issues[0]?.path.join('.')} ${fields.error.issues[0]?.message}`));
      if (upload.size === 0) throw tusError(new AppError('empty_file', 'The file is empty (0 bytes). Choose the WAV or FLAC file again.'));
      const replaceId = meta['replace-track-id'];
      if (replaceId) {
        // Refuse before any byte is sent: someone else's track (404) or one still processing (409).
        const track = await requireOwnTrack(ctx, user, replaceId).catch((e: unknown) => {
          throw tusError(isAppError(e) ? e : new AppError('internal_error', 'Something went wrong on our side; it has been logged.'));
        });
        if (track.status === 'processing') throw tusError(new AppError('conflict', 'This track is still processing; wait until it is ready or failed, then replace it.'));
      }
      // The owner is recorded server-side; whatever the client sent under these names is replaced.
      return { metadata: { ...meta, 'owner-user-id': user.id, 'owner-artist-id': user.artistId ?? '' } };
    },
    async onIncomingRequest(req, uploadId) {
      const user = userOf(req);
      if (req.method === 'POST') return;
      let upload: Upload;
      try {
        upload = await datastore.getUpload(uploadId);
      } catch {
        return; // tus answers 404/410 itself
      }
      if (upload.metadata?.['owner-user-id'] !== user.id && user.role !== 'admin') {
        throw { status_code: 404, body: 'The file for this upload does not exist\n' } satisfies TusError;
      }
    },
    async onUploadFinish(req, upload) {
      const user = userOf(req);
      const meta = upload.metadata ?? {};
      const fields = ZUploadFields.parse({ title: meta.title ?? undefined, artist: meta.artist ?? undefined, album: meta.album ?? undefined, genre: meta.genre ?? undefined });
      const filePath = path.join(dir, upload.id);
      try {
        const file = { filePath, originalName: meta.filename ?? 'upload', uploadId: upload.id };
        const replaceId = meta['replace-track-id'];
        const accepted = replaceId ? await submitReplacement(ctx, user, replaceId, { ...file, via: 'replace' }) : await submitNewTrack(ctx, user, { ...file, via: 'tus' }, fields);
        await deps.cache.set(resultKey(upload.id), JSON.stringify({ state: 'accepted', trackId: accepted.id, notices: accepted.notices } satisfies UploadOutcome), RESULT_TTL_MS);
        return { status_code: 204, headers: { 'Upload-Track-Id': accepted.id } };
      } catch (e) {
        const err = isAppError(e) ? e : new AppError('internal_error', 'Something went wrong on our side; it has been logged.');
        if (!isAppError(e)) deps.logger.error({ err: e, uploadId: upload.id }, 'tus upload finish failed');
        if (err.status < 500) {
          await deps.cache.set(resultKey(upload.id), JSON.stringify({ state: 'rejected', error: { code: err.code, detail: err.detail, status: err.status } } satisfies UploadOutcome), RESULT_TTL_MS).catch(() => undefined);
          // Resuming cannot fix a file that was rejected by content: drop the bytes.
          setTimeout(() => void datastore.remove(upload.id).catch(() => undefined), 2000).unref();
        }
        throw tusError(err);
      }
    },
  });
  tus.on(EVENTS.POST_CREATE, () => ctx.metrics.uploadsInFlight.inc({ via: 'tus' }));
  tus.on(EVENTS.POST_FINISH, () => ctx.metrics.uploadsInFlight.dec({ via: 'tus' }));

  // PATCH bodies are the raw bytes of the file: leave the stream untouched for tus.
  app.addContentTypeParser('application/offset+octet-stream', (_req, _payload, done) => done(null));

  const handle = async (request: import('fastify').FastifyRequest, reply: import('fastify').FastifyReply) => {
    if (request.method !== 'OPTIONS') users.set(request.raw, requireRole(request, 'musician'));
    reply.hijack();
    await tus.handle(request.raw, reply.raw);
  };
  const methods = ['POST', 'PATCH', 'HEAD', 'DELETE', 'OPTIONS'] as const;
  app.route({ method: [...methods], url: TUS_PATH, handler: handle });
  app.route({ method: [...methods], url: `${TUS_PATH}/:uploadId`, handler: handle });

  app.get<{ Params: { uploadId: string } }>(`${TUS_PATH}/:uploadId/track`, async (request) => {
    const user = requireRole(request, 'musician');
    const id = request.params.uploadId;
    if (!/^[0-9a-f]{32}$/.test(id)) throw new AppError('not_found', 'No such upload.');
    const raw = await deps.cache.get(resultKey(id));
    if (raw) {
      const outcome = JSON.parse(raw) as UploadOutcome;
      return { uploadId: id, ...outcome };
    }
    try {
      const upload = await datastore.getUpload(id);
      if (upload.metadata?.['owner-user-id'] !== user.id && user.role !== 'admin') throw new Error('not yours');
      return { uploadId: id, state: 'uploading', offset: upload.offset, size: upload.size ?? null };
    } catch {
      throw new AppError('not_found', 'No such upload (unknown, expired, or not yours).');
    }
  });

  const sweep = async () => {
    try {
      await datastore.deleteExpired();
      const now = Date.now();
      for (const name of await readdir(dir)) {
        if (!name.endsWith('.json')) continue;
        const id = name.slice(0, -5);
        try {
          const u = await datastore.getUpload(id);
          const age = now - new Date(u.creation_date ?? 0).getTime();
          if (u.size !== undefined && u.offset === u.size && age > FINISHED_GRACE_MS) await datastore.remove(id);
        } catch {
          // A .json without its data file: leftover of a crash.
          await rm(path.join(dir, name), { force: true });
        }
      }
    } catch (e) {
      deps.logger.warn({ err: e }, 'tus upload sweep failed');
    }
  };
  const timer = setInterval(() => void sweep(), SWEEP_EVERY_MS).unref();
  app.addHook('onClose', async () => clearInterval(timer));
}
