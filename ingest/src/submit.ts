/**
 * The one path every upload takes once its bytes are on local disk (multipart, tus, replace):
 * validate by content -> tags as defaults -> original into object storage -> track row (processing)
 * -> job on `ingest.jobs`. Ordering is what keeps it safe: nothing is visible before the original is
 * stored, and any failure after the row exists marks the row failed with a code (never a
 * half-published track, never a row pointing at nothing).
 */
import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { AppError, isAppError } from '@platform/errors';
import type { PlatformDeps } from '@platform/runtime';
import { createTrack, getTrack, invalidateTrack, markTrackFailed, startTrackVersion, type SessionUser, type TrackRecord } from '@platform/catalog';
import { INGEST_JOBS_TOPIC, ingestProgressKey, ZIngestJob, type TIngestJob, type TIngestProgress } from '@platform/models';
import { checkAudio, type CheckedAudio } from './audio-check';
import { readFileTags } from './tags';
import { storeCover } from './cover';
import type { IngestMetrics } from './metrics';

export const INGEST_TOPIC = INGEST_JOBS_TOPIC;
export const progressKey = ingestProgressKey;

export interface TrackFields {
  title?: string;
  artist?: string;
  album?: string;
  genre?: string;
}

export interface UploadedFile {
  filePath: string;
  /** The name the client gave (for messages and the title fallback only; never trusted for the format). */
  originalName: string;
  uploadId: string;
  via: 'multipart' | 'tus' | 'cli' | 'replace';
}

export interface AcceptedUpload {
  id: string;
  status: 'processing';
  version: number;
  durationMs: number;
  format: 'wav' | 'flac';
  /** The source has more than two channels; it will be folded down to stereo. */
  downmix: boolean;
  notices: string[];
}

export interface SubmitContext {
  deps: PlatformDeps;
  metrics: IngestMetrics;
  /** Bus topic for jobs (INGEST_TOPIC; tests on a shared Kafka use their own). */
  topic: string;
  /** Bounds concurrent content validations (each is a full decode). */
  validationGate: Gate;
}

const titleFromName = (name: string) => path.basename(name).replace(/\.[^.]+$/, '').replace(/[_]+/g, ' ').trim().slice(0, 300) || 'Untitled';

function sourceNotes(audio: CheckedAudio, file: UploadedFile) {
  return {
    format: audio.format,
    sampleRate: audio.sampleRate,
    channels: audio.channels,
    bitDepth: audio.bitDepth,
    durationMs: audio.durationMs,
    downmix: audio.downmix,
    bytes: audio.sizeBytes,
    fileName: path.basename(file.originalName || 'upload').slice(0, 300),
  };
}

function notices(audio: CheckedAudio): string[] {
  return audio.downmix ? [`The file has ${audio.channels} channels; it will be downmixed to stereo for streaming (the original is kept).`] : [];
}

/**
 * Validation decodes the whole file: a burst of uploads (a CLI bulk run) must not put dozens of
 * ffmpeg processes on the web process's cores. Waiting uploads queue here, in arrival order.
 */
export class Gate {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly limit: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}
export const defaultValidationSlots = (): number => Math.max(2, Math.floor(availableParallelism() / 2));

async function validate(ctx: SubmitContext, file: UploadedFile): Promise<CheckedAudio> {
  return ctx.validationGate.run(() => validateNow(ctx, file));
}

async function validateNow(ctx: SubmitContext, file: UploadedFile): Promise<CheckedAudio> {
  const end = ctx.metrics.validationSeconds.startTimer();
  try {
    return await checkAudio(file.filePath, file.originalName ? `"${path.basename(file.originalName)}"` : 'The file');
  } catch (e) {
    ctx.metrics.uploads.inc({ via: file.via, outcome: isAppError(e) ? e.code : 'error' });
    throw e;
  } finally {
    end();
  }
}

async function storeOriginal(ctx: SubmitContext, trackId: string, file: UploadedFile, audio: CheckedAudio, user: SessionUser): Promise<string> {
  const key = `originals/${trackId}/${file.uploadId}.${audio.format}`;
  await ctx.deps.objects.putFile(key, file.filePath, {
    contentType: audio.format === 'wav' ? 'audio/wav' : 'audio/flac',
    metadata: { 'uploaded-by': user.id, 'original-name': encodeURIComponent(path.basename(file.originalName || 'upload')) },
  });
  return key;
}

async function enqueue(ctx: SubmitContext, job: { trackId: string; version: number; originalKey: string; uploadedBy: string; format: 'wav' | 'flac'; downmix: boolean }): Promise<void> {
  const { deps } = ctx;
  const now = new Date().toISOString();
  // Parse our own message with the shared schema: a producer bug fails here, not in every worker.
  const message: TIngestJob = ZIngestJob.parse({
    v: 1,
    trackId: job.trackId,
    version: job.version,
    originalKey: job.originalKey,
    uploadedBy: job.uploadedBy,
    requestedAt: now,
    source: { format: job.format, downmix: job.downmix },
  });
  const progress: TIngestProgress = { stage: 'queued', percent: 0, updatedAt: now, version: job.version };
  await deps.cache.set(progressKey(job.trackId), JSON.stringify(progress), 7 * 86400_000).catch(() => undefined);
  await deps.bus.send(ctx.topic, [{ key: job.trackId, value: JSON.stringify(message), headers: { 'content-type': 'application/json' } }]);
}

/** Mark failed without letting a second failure hide the first. */
async function failTrack(ctx: SubmitContext, trackId: string, version: number, code: string, detail: string): Promise<void> {
  try {
    await markTrackFailed(ctx.deps.sql, { trackId, version, code, detail });
    await invalidateTrack(ctx.deps.cache, trackId);
  } catch (e) {
    ctx.deps.logger.error({ err: e, trackId, code }, 'could not mark track failed');
  }
}

/** A new track from an uploaded file. */
export async function submitNewTrack(ctx: SubmitContext, user: SessionUser, file: UploadedFile, fields: TrackFields, cover?: { filePath: string }): Promise<AcceptedUpload> {
  const { deps } = ctx;
  const audio = await validate(ctx, file);
  const tags = await readFileTags(file.filePath);
  const trackId = randomUUID();
  const log = deps.logger.child({ trackId, uploadId: file.uploadId, via: file.via });

  const originalKey = await storeOriginal(ctx, trackId, file, audio, user);

  let coverKey: string | undefined;
  if (cover) {
    coverKey = `covers/${trackId}/${file.uploadId}`;
    try {
      await storeCover(deps.objects, coverKey, cover.filePath);
    } catch (e) {
      await deps.objects.delete(originalKey).catch(() => undefined);
      throw e;
    }
  }

  try {
    // The artist named on the form (or in the tags) is one of this musician's artists, found or
    // created for them; without a name the track goes to their own artist profile.
    const artistName = fields.artist || tags.artist;
    await createTrack(deps.sql, {
      id: trackId,
      ...(artistName || !user.artistId ? { ownerUserId: user.id, artistName: artistName || user.displayName } : { artistId: user.artistId }),
      title: fields.title || tags.title || titleFromName(file.originalName),
      albumTitle: fields.album || tags.album,
      genre: fields.genre || tags.genre,
      trackNumber: tags.trackNumber,
      year: tags.year,
      isrc: tags.isrc,
      originalKey,
      coverKey,
      notes: { source: sourceNotes(audio, file) },
    });
  } catch (e) {
    // No row: remove what we stored so nothing dangles; the client gets the error and can retry.
    await deps.objects.delete(originalKey).catch(() => undefined);
    if (coverKey) await deps.objects.deletePrefix(`${coverKey}/`).catch(() => undefined);
    throw e;
  }

  try {
    await enqueue(ctx, { trackId, version: 1, originalKey, uploadedBy: user.id, format: audio.format, downmix: audio.downmix });
  } catch (e) {
    log.error({ err: e }, 'could not queue the ingest job');
    await failTrack(ctx, trackId, 1, 'unavailable', 'The processing queue did not answer; the original is kept. Retry processing from the portal or re-upload.');
    ctx.metrics.uploads.inc({ via: file.via, outcome: 'queue_failed' });
    throw new AppError('unavailable', 'The upload was stored but the processing queue did not answer. Try again in a minute.', { retryAfter: 30, extra: { id: trackId } });
  }
  ctx.metrics.uploads.inc({ via: file.via, outcome: 'accepted' });
  ctx.metrics.uploadBytes.inc({ via: file.via }, audio.sizeBytes);
  log.info({ durationMs: audio.durationMs, format: audio.format, channels: audio.channels, bytes: audio.sizeBytes }, 'upload accepted');
  return { id: trackId, status: 'processing', version: 1, durationMs: audio.durationMs, format: audio.format, downmix: audio.downmix, notices: notices(audio) };
}

/** Load a track the user may change (the owner of its artist, or an admin). Others get 404, not 403: ids are not disclosed. */
export async function requireOwnTrack(ctx: SubmitContext, user: SessionUser, trackId: string): Promise<TrackRecord> {
  const track = await getTrack(ctx.deps.sql, trackId);
  if (!track || (track.ownerUserId !== user.id && user.role !== 'admin')) {
    throw new AppError('not_found', 'No such track among yours.');
  }
  return track;
}

async function restart(ctx: SubmitContext, user: SessionUser, trackId: string, originalKey: string, format: 'wav' | 'flac', downmix: boolean): Promise<number> {
  const version = await startTrackVersion(ctx.deps.sql, { trackId, originalKey });
  if (version === null) throw new AppError('not_found', 'No such track among yours.');
  await invalidateTrack(ctx.deps.cache, trackId);
  try {
    await enqueue(ctx, { trackId, version, originalKey, uploadedBy: user.id, format, downmix });
  } catch (e) {
    ctx.deps.logger.error({ err: e, trackId }, 'could not queue the ingest job');
    await failTrack(ctx, trackId, version, 'unavailable', 'The processing queue did not answer; the original is kept. Retry processing.');
    throw new AppError('unavailable', 'The file is stored but the processing queue did not answer. Try again in a minute.', { retryAfter: 30 });
  }
  return version;
}

/** A new version of an existing track's audio (re-ingest): the published version keeps playing until the new one is ready. */
export async function submitReplacement(ctx: SubmitContext, user: SessionUser, trackId: string, file: UploadedFile): Promise<AcceptedUpload> {
  const track = await requireOwnTrack(ctx, user, trackId);
  if (track.status === 'processing') throw new AppError('conflict', 'This track is still processing; wait until it is ready or failed, then replace it.');
  const audio = await validate(ctx, file);
  const originalKey = await storeOriginal(ctx, trackId, file, audio, user);
  const version = await restart(ctx, user, trackId, originalKey, audio.format, audio.downmix);
  ctx.metrics.uploads.inc({ via: file.via, outcome: 'accepted' });
  return { id: trackId, status: 'processing', version, durationMs: audio.durationMs, format: audio.format, downmix: audio.downmix, notices: notices(audio) };
}

/** Re-send the job of a failed track from its kept original (e.g. after a queue outage or a worker fix). */
export async function retryTrack(ctx: SubmitContext, user: SessionUser, trackId: string): Promise<{ id: string; status: 'processing'; version: number }> {
  const track = await requireOwnTrack(ctx, user, trackId);
  if (track.status !== 'failed') throw new AppError('conflict', `Only a failed track can be retried; this one is ${track.status}.`);
  if (!track.originalKey || !(await ctx.deps.objects.head(track.originalKey))) {
    throw new AppError('conflict', 'The original file of this track is not in storage; upload it again.');
  }
  const source = (track.notes.source ?? {}) as { format?: string; downmix?: boolean };
  const format = source.format === 'flac' || track.originalKey.endsWith('.flac') ? 'flac' : 'wav';
  const version = await restart(ctx, user, trackId, track.originalKey, format, source.downmix === true);
  return { id: trackId, status: 'processing', version };
}
