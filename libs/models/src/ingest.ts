/**
 * Ingest area schemas (zod): the job the upload side puts on the bus and the packager consumes,
 * plus the progress record the packager keeps in the cache for the portal.
 * Owned by the packager; the ingest API imports these.
 */
import { z } from 'zod';

/** Bus topic carrying ZIngestJob, keyed by trackId (all versions of a track land on one partition, in order). */
export const INGEST_JOBS_TOPIC = 'ingest.jobs';

/** Source formats the packager accepts (validated by content, not by name). */
export const ZSourceFormat = z.enum(['wav', 'flac']);
export type TSourceFormat = z.infer<typeof ZSourceFormat>;

export const ZIngestJob = z.object({
  v: z.literal(1),
  trackId: z.uuid(),
  /** Bumped on every re-upload; outputs live under tracks/{trackId}/v{version}/ so a retry overwrites only its own prefix. */
  version: z.number().int().min(1),
  /** Object-storage key of the untouched upload (under originals/). */
  originalKey: z.string().min(1),
  /** User id of the musician who uploaded. */
  uploadedBy: z.string().min(1),
  /** ISO 8601 timestamp of the upload. */
  requestedAt: z.iso.datetime({ offset: true }),
  /** What the ingest side learnt when it validated the upload (probeAudio); the packager reads the headers again (not a full decode) and relies on its transcode's -xerror. */
  source: z.object({
    format: ZSourceFormat,
    /** More than two channels: the renditions are downmixed to stereo (the portal says so). */
    downmix: z.boolean(),
  }),
});
export type TIngestJob = z.infer<typeof ZIngestJob>;

/** Stages a job goes through, in order, as reported in the progress record. */
export const ZIngestStage = z.enum(['queued', 'downloading', 'probing', 'transcoding', 'packaging', 'uploading', 'publishing', 'ready', 'failed']);
export type TIngestStage = z.infer<typeof ZIngestStage>;

/** Cache key of a track's progress record (JSON ZIngestProgress, with a TTL). */
export const ingestProgressKey = (trackId: string): string => `ingest:progress:${trackId}`;

export const ZIngestProgress = z.object({
  stage: ZIngestStage,
  /** 0-100 over the whole job. */
  percent: z.number().min(0).max(100),
  /** ISO 8601. */
  updatedAt: z.string(),
  version: z.number().int().min(1).optional(),
  /** Set when stage is failed. */
  error: z.object({ code: z.string(), detail: z.string() }).optional(),
});
export type TIngestProgress = z.infer<typeof ZIngestProgress>;

/** One packaged rendition as the catalog stores it. `container` is how segments are delivered. */
export const ZRendition = z.object({
  codec: z.enum(['aac', 'opus', 'mp3', 'flac']),
  /** Nominal bitrate; for lossless (FLAC) the measured average. */
  bitrateKbps: z.number().int().positive(),
  container: z.enum(['fmp4', 'ts']),
});
export type TRendition = z.infer<typeof ZRendition>;

export const ZLoudness = z.object({
  /** EBU R128 integrated loudness, LUFS. */
  integratedLufs: z.number(),
  /** Maximum true peak, dBTP. */
  truePeakDb: z.number(),
  /** Track gain towards -14 LUFS, limited so the true peak stays at or below -1 dBTP. */
  gainDb: z.number(),
});
export type TLoudness = z.infer<typeof ZLoudness>;
