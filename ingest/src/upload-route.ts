/**
 * POST /api/tracks (multipart/form-data) and POST /api/tracks/:id/replace: the file part streams
 * to a private temp file (never whole in memory), with UPLOAD_MAX_BYTES enforced while it streams;
 * then the shared submit path takes over.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { MultipartFile } from '@fastify/multipart';
import { z } from 'zod';
import { AppError, isAppError } from '@platform/errors';
import { parseOr400 } from '@platform/http';
import { requireRole } from '@platform/catalog';
import { COVER_MAX_BYTES } from './cover';
import { submitNewTrack, submitReplacement, type SubmitContext, type TrackFields } from './submit';

const text = (max: number) => z.string().trim().max(max).optional().transform((v) => (v ? v : undefined));
export const ZUploadFields = z.object({
  title: text(300),
  artist: text(300),
  album: text(300),
  genre: text(100),
});
export type TUploadFields = z.infer<typeof ZUploadFields>;

/** Room for the form fields and a cover next to the audio, for the early Content-Length check. */
const ENVELOPE_BYTES = COVER_MAX_BYTES + 1024 * 1024;

/** Counts bytes and fails the stream past a limit (busboy's limit covers the audio; this the cover). */
export class ByteLimit extends Transform {
  bytes = 0;
  constructor(private readonly limit: number, private readonly onExceed: () => Error) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) cb(this.onExceed());
    else cb(null, chunk);
  }
}

const mb = (n: number) => (n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(1)} GiB` : n >= 1024 ** 2 ? `${(n / 1024 ** 2).toFixed(1)} MiB` : `${Math.ceil(n / 1024)} KiB`);

export interface ParsedUpload {
  dir: string;
  audio?: { filePath: string; originalName: string; bytes: number };
  cover?: { filePath: string; bytes: number };
  fields: TrackFields;
}

/** Streams the multipart body to disk. The caller removes `dir` when done. */
export async function receiveMultipart(request: FastifyRequest, reply: FastifyReply, tmpRoot: string, maxBytes: number): Promise<ParsedUpload> {
  if (!request.isMultipart()) {
    throw new AppError('bad_request', 'Send the upload as multipart/form-data with the audio in a part named "file".');
  }
  const declared = Number(request.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes + ENVELOPE_BYTES) {
    // Refuse before reading gigabytes we would throw away; closing the connection stops the client sending them.
    reply.header('connection', 'close');
    throw new AppError('payload_too_large', `The upload is ${mb(declared)}; the limit is ${mb(maxBytes)} per file.`, { extra: { limitBytes: maxBytes } });
  }
  await mkdir(tmpRoot, { recursive: true });
  const dir = await mkdtemp(path.join(tmpRoot, 'up-'));
  const raw: Record<string, string> = {};
  const out: ParsedUpload = { dir, fields: {} };
  try {
    for await (const part of request.parts({ limits: { fileSize: maxBytes, files: 2, fields: 20, fieldSize: 64 * 1024, parts: 24 } })) {
      if (part.type === 'field') {
        if (typeof part.value === 'string') raw[part.fieldname] = part.value;
        continue;
      }
      const file = part as MultipartFile;
      if (file.fieldname === 'file' && !out.audio) {
        const filePath = path.join(dir, 'audio');
        await pipeline(file.file, createWriteStream(filePath, { flags: 'wx', mode: 0o600 }));
        if (file.file.truncated) {
          throw new AppError('payload_too_large', `"${file.filename}" is larger than the ${mb(maxBytes)} upload limit.`, { extra: { limitBytes: maxBytes } });
        }
        out.audio = { filePath, originalName: browserFilename(file.filename) || 'upload', bytes: file.file.bytesRead };
      } else if (file.fieldname === 'cover' && !out.cover) {
        const filePath = path.join(dir, 'cover');
        const counter = new ByteLimit(COVER_MAX_BYTES, () => new AppError('payload_too_large', `The cover image is larger than ${mb(COVER_MAX_BYTES)}.`));
        await pipeline(file.file, counter, createWriteStream(filePath, { flags: 'wx', mode: 0o600 }));
        if (file.file.truncated) throw new AppError('payload_too_large', `The cover image is larger than ${mb(COVER_MAX_BYTES)}.`);
        // An empty cover part is what browsers send for an untouched <input type=file>.
        if (counter.bytes > 0) out.cover = { filePath, bytes: counter.bytes };
      } else {
        // Unknown file parts are drained, not stored.
        file.file.resume();
        await new Promise((r) => file.file.on('end', r));
      }
    }
    // Inside the try: a bad field (a 5000-character title) must not leave the spooled audio behind.
    out.fields = parseOr400(ZUploadFields, raw, 'form');
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    const fe = e as { code?: string };
    // The rest of an oversized body would only be read to be discarded.
    if (fe.code === 'FST_REQ_FILE_TOO_LARGE' || (isAppError(e) && e.code === 'payload_too_large')) reply.header('connection', 'close');
    if (fe.code === 'FST_REQ_FILE_TOO_LARGE') throw new AppError('payload_too_large', `The file is larger than the ${mb(maxBytes)} upload limit.`, { extra: { limitBytes: maxBytes } });
    if (fe.code === 'FST_FILES_LIMIT' || fe.code === 'FST_PARTS_LIMIT' || fe.code === 'FST_FIELDS_LIMIT') throw new AppError('bad_request', 'Too many parts: send one audio "file", an optional "cover" and the text fields.');
    throw e;
  }
  return out;
}

export function registerUploadRoutes(app: FastifyInstance, ctx: SubmitContext, tmpRoot: string): void {
  const maxBytes = ctx.deps.config.UPLOAD_MAX_BYTES;

  app.post('/api/tracks', async (request, reply) => {
    const user = requireRole(request, 'musician');
    ctx.metrics.uploadsInFlight.inc({ via: 'multipart' });
    let parsed: ParsedUpload | undefined;
    try {
      parsed = await receiveMultipart(request, reply, tmpRoot, maxBytes);
      if (!parsed.audio) throw new AppError('validation_failed', 'No audio: attach the WAV or FLAC file in a form part named "file".', { extra: { errors: [{ field: 'form.file', message: 'Required' }] } });
      const via = /\bplatform-cli\//.test(String(request.headers['user-agent'] ?? '')) ? 'cli' : 'multipart';
      const accepted = await submitNewTrack(ctx, user, { filePath: parsed.audio.filePath, originalName: parsed.audio.originalName, uploadId: randomUUID(), via }, parsed.fields, parsed.cover);
      reply.code(202).header('location', `/api/tracks/${accepted.id}`);
      return accepted;
    } finally {
      ctx.metrics.uploadsInFlight.dec({ via: 'multipart' });
      if (parsed) await rm(parsed.dir, { recursive: true, force: true });
    }
  });

  app.post<{ Params: { id: string } }>('/api/tracks/:id/replace', async (request, reply) => {
    const user = requireRole(request, 'musician');
    let parsed: ParsedUpload | undefined;
    try {
      parsed = await receiveMultipart(request, reply, tmpRoot, maxBytes);
      if (!parsed.audio) throw new AppError('validation_failed', 'No audio: attach the new WAV or FLAC in a form part named "file".');
      const accepted = await submitReplacement(ctx, user, request.params.id, { filePath: parsed.audio.filePath, originalName: parsed.audio.originalName, uploadId: randomUUID(), via: 'replace' });
      reply.code(202).header('location', `/api/tracks/${accepted.id}`);
      return accepted;
    } finally {
      if (parsed) await rm(parsed.dir, { recursive: true, force: true });
    }
  });
}

/**
 * Browsers (and undici's FormData) escape three characters of a multipart filename as the WHATWG
 * spec says: `"` -> %22, CR -> %0D, LF -> %0A. Undo exactly those, so `Song "Live".wav` becomes the
 * title `Song "Live"`, not `Song %22Live%22`; any other % sequence is the musician's own text.
 */
export function browserFilename(name: string | undefined): string {
  return (name ?? '').replace(/%22/g, '"').replace(/%0D|%0A/gi, ' ');
}
