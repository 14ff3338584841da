/** @platform/ingest: the upload side of ingest (web API plugin, resumable uploads, job production). */
export { ingestRoutes, type IngestRoutesOptions } from './routes';
export { checkAudio, type CheckedAudio, MIN_DURATION_MS, MAX_DURATION_MS } from './audio-check';
export { INGEST_TOPIC, progressKey, type AcceptedUpload } from './submit';
export { TUS_PATH, type UploadOutcome } from './tus-uploads';
export { ZUploadFields, type TUploadFields } from './upload-route';
export { type TrackStatusDoc } from './status-routes';
