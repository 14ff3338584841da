/**
 * The portal's uploads: resumable, through the tus 1.0 endpoint `/api/uploads/` (ingest/README.md) with
 * tus-js-client. This module is imported by the portal page only, so the client rides in the portal's lazy
 * chunk and never in the player's first paint.
 *
 * - Progress per file (onProgress).
 * - A dropped connection is retried and resumed from the offset the server reports (HEAD), with growing
 *   delays (RETRY_DELAYS); while the browser says it is offline, the upload waits for `online` instead of
 *   burning its retries.
 * - A page reload (or a crash) does not lose what was sent: tus-js-client keeps each upload's URL in
 *   localStorage under the file's fingerprint (name, type, size, mtime), so choosing the same file again
 *   continues where it stopped. `unfinishedUploads()` lists those for the portal.
 * - title/artist/album/genre/filename travel as Upload-Metadata; the server fills the same fields as the
 *   multipart POST /api/tracks (typed fields, then tags, then the file name). With `replaceTrackId` the file
 *   is new audio for that track instead (a new version; the published one plays until it is ready).
 * - The outcome (track id, notices such as the 5.1 downmix, or the server's problem+json for a rejected
 *   file) comes from the final PATCH and from GET /api/uploads/:id/track, which also covers an answer that
 *   was lost with the connection.
 */
import { defaultOptions, Upload, type DetailedError, type HttpResponse, type PreviousUpload } from 'tus-js-client';
import { api, ApiError, csrfHeaders } from './api';

export const TUS_ENDPOINT = '/api/uploads/';
/** Chunks bound what a retry re-sends and what a proxy's body limit sees. */
const CHUNK_BYTES = 8 * 1024 * 1024;
/** Reset whenever a retry makes progress, so a long upload on a flaky link keeps going. */
const RETRY_DELAYS = [0, 1000, 3000, 5000, 10_000, 20_000, 30_000, 60_000];
/** How long to wait for the server's verdict on a file whose last byte arrived (a full decode of a big file). */
const OUTCOME_WAIT_MS = 10 * 60_000;

/** Blank fields are not sent: the server fills them from the file's tags, then its name. */
export interface UploadFields {
  title?: string;
  artist?: string;
  album?: string;
  genre?: string;
}

export interface UploadResult {
  id: string;
  status: string;
  notices: string[];
}

export interface UploadHooks {
  onProgress(fraction: number): void;
  /** What the connection is doing, for the row's status line (undefined: uploading normally). */
  onConnection?(state: 'retrying' | 'offline' | 'resumed' | undefined, detail?: string): void;
  signal?: AbortSignal;
  /** New audio for this (own) track instead of a new track. */
  replaceTrackId?: string;
}

type Outcome = { state: 'uploading'; offset: number; size: number | null } | { state: 'accepted'; trackId: string; notices?: string[] } | { state: 'rejected'; error: { code: string; detail: string; status: number } };

const uploadIdOf = (url: string) => url.replace(/\/+$/, '').split('/').pop() ?? '';

function problemOf(res: HttpResponse | null | undefined): ApiError | undefined {
  if (!res) return undefined;
  const status = res.getStatus();
  let body: { code?: unknown; detail?: unknown; title?: unknown } = {};
  try {
    body = JSON.parse(res.getBody() || '{}') as typeof body;
  } catch {
    /* tus-level errors are plain text */
  }
  const detail =
    typeof body.detail === 'string' && body.detail
      ? body.detail
      : status === 413
        ? 'The file is larger than the upload limit.'
        : status === 401
          ? 'Your session has ended. Log in again to upload.'
          : status === 403
            ? 'Only musician accounts can upload.'
            : status === 404 || status === 410
              ? 'This upload is no longer on the server (expired or removed). Upload the file again.'
              : `Upload failed (${status}).`;
  return new ApiError(status, typeof body.code === 'string' ? body.code : `http_${status}`, detail);
}

/** The server's verdict on a finished upload; waits while it is still validating the file. */
async function outcomeOf(uploadUrl: string, known: string | undefined, signal?: AbortSignal): Promise<UploadResult> {
  const id = uploadIdOf(uploadUrl);
  const until = Date.now() + OUTCOME_WAIT_MS;
  for (let delay = 250; ; delay = Math.min(delay * 2, 3000)) {
    let o: Outcome | undefined;
    try {
      o = await api<Outcome>(`/api/uploads/${encodeURIComponent(id)}/track`, { signal });
    } catch (e) {
      // The final PATCH named the track but the outcome record is unreachable: the track exists anyway.
      if (known) return { id: known, status: 'processing', notices: [] };
      if (!(e instanceof ApiError) || e.status !== 0 || Date.now() > until) throw e;
    }
    if (o?.state === 'accepted') return { id: o.trackId, status: 'processing', notices: o.notices ?? [] };
    if (o?.state === 'rejected') throw new ApiError(o.error.status, o.error.code, o.error.detail);
    if (Date.now() > until) throw new ApiError(0, 'timeout', 'The file arrived but the server has not finished checking it. Reload the portal in a minute to see it.');
    await new Promise((r) => setTimeout(r, delay));
  }
}

function waitOnline(signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      window.removeEventListener('online', done);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    window.addEventListener('online', done);
    signal?.addEventListener('abort', done);
  });
}

/** Upload one file and resolve with its track once the server accepted it; rejects with an ApiError. */
export function uploadTrack(file: File, fields: UploadFields, hooks: UploadHooks): Promise<UploadResult> {
  const { signal } = hooks;
  return new Promise<UploadResult>((resolve, reject) => {
    let trackId: string | undefined;
    let isSettled = false;
    const fail = (e: ApiError) => {
      if (isSettled) return;
      isSettled = true;
      reject(e);
    };
    const metadata: Record<string, string> = { filename: file.name, filetype: file.type || 'application/octet-stream' };
    for (const [k, v] of Object.entries(fields)) if (v) metadata[k] = v;
    const replaceId = hooks.replaceTrackId;
    if (replaceId) metadata['replace-track-id'] = replaceId;

    const upload: Upload = new Upload(file, {
      endpoint: TUS_ENDPOINT,
      chunkSize: CHUNK_BYTES,
      retryDelays: RETRY_DELAYS,
      metadata,
      // The same file as a new track and as a replacement are different uploads: never resume one as the other.
      fingerprint: (f, options) => defaultOptions.fingerprint(f, options).then((fp) => (replaceId ? `${fp}-replace-${replaceId}` : fp)),
      // A later upload of the same file is a new track, not a resumption of this finished one.
      removeFingerprintOnSuccess: true,
      onBeforeRequest(req) {
        // Read at each request: the csrf cookie may be renewed during a long upload.
        for (const [k, v] of Object.entries(csrfHeaders())) req.setHeader(k, v);
      },
      onAfterResponse(_req, res) {
        const id = res.getHeader('Upload-Track-Id');
        if (id) trackId = id;
      },
      onProgress(sent, total) {
        hooks.onProgress(total > 0 ? sent / total : 0);
      },
      onShouldRetry(err, attempt) {
        const status = err.originalResponse?.getStatus() ?? 0;
        // A rejected file (415/422/400), a missing upload (404/410) or the size limit (413) will not change on a retry.
        if (status >= 400 && status < 500 && status !== 409 && status !== 423 && status !== 429) return false;
        // 409 on a PATCH is tus's offset mismatch (a HEAD fixes it); on the creation it is our `conflict` (a track still processing).
        if (status === 409 && err.originalRequest?.getMethod() === 'POST') return false;
        if (typeof navigator !== 'undefined' && navigator.onLine === false) return false; // handled in onError: wait for `online`
        hooks.onConnection?.('retrying', `Connection lost; retrying (${attempt + 1})…`);
        return true;
      },
      onChunkComplete() {
        hooks.onConnection?.(undefined);
      },
      onSuccess() {
        hooks.onProgress(1);
        hooks.onConnection?.(undefined);
        outcomeOf(upload.url ?? '', trackId, signal).then(
          (r) => {
            isSettled = true;
            resolve(r);
          },
          (e: unknown) => fail(e instanceof ApiError ? e : new ApiError(0, 'network_error', String(e))),
        );
      },
      onError(err) {
        if (signal?.aborted) return fail(new ApiError(0, 'aborted', 'Upload cancelled.'));
        const res = (err as DetailedError).originalResponse;
        if (!res || res.getStatus() === 0) {
          if (navigator.onLine === false) {
            // Offline: keep what was sent and continue (HEAD, then PATCH from the server's offset) when back.
            hooks.onConnection?.('offline', 'Offline; the upload continues when the connection is back.');
            void waitOnline(signal).then(() => {
              if (signal?.aborted) return fail(new ApiError(0, 'aborted', 'Upload cancelled.'));
              hooks.onConnection?.('retrying', 'Back online; resuming…');
              upload.start();
            });
            return;
          }
          return fail(new ApiError(0, 'network_error', 'The upload was interrupted and retrying did not help. Choose the same file again to continue where it stopped.'));
        }
        fail(problemOf(res) ?? new ApiError(0, 'upload_failed', err.message));
      },
    });

    signal?.addEventListener('abort', () => {
      // Terminate on the server too: a cancelled upload should not wait 24 h to be swept.
      void upload.abort(true).catch(() => undefined);
      fail(new ApiError(0, 'aborted', 'Upload cancelled.'));
    });

    void upload.findPreviousUploads().then(
      (previous) => {
        const last = previous.filter((p) => p.uploadUrl).sort((a, b) => Date.parse(b.creationTime) - Date.parse(a.creationTime))[0];
        if (last) {
          upload.resumeFromPreviousUpload(last);
          hooks.onConnection?.('resumed', 'Continuing an upload that was interrupted earlier…');
        }
        if (!signal?.aborted) upload.start();
      },
      () => upload.start(),
    );
  });
}

export interface UnfinishedUpload {
  key: string;
  fileName: string;
  size: number | null;
  startedAt: string;
  /** Bytes the server holds, when it could tell. */
  offset?: number;
}

/** Uploads this browser started and did not finish (for "choose the same file to continue"). */
export async function unfinishedUploads(): Promise<UnfinishedUpload[]> {
  const stored: PreviousUpload[] = await defaultOptions.urlStorage.findAllUploads().catch(() => []);
  const out: UnfinishedUpload[] = [];
  for (const p of stored) {
    if (!p.uploadUrl) continue;
    let o: Outcome | undefined;
    try {
      o = await api<Outcome>(`/api/uploads/${encodeURIComponent(uploadIdOf(p.uploadUrl))}/track`);
    } catch (e) {
      // Gone on the server (expired, or another account's): nothing to continue.
      if (e instanceof ApiError && e.status === 404) await defaultOptions.urlStorage.removeUpload(p.urlStorageKey);
      if (!(e instanceof ApiError) || e.status !== 0) continue;
    }
    if (o && o.state !== 'uploading') {
      // Finished (its row shows in the track list) or rejected: nothing to resume.
      await defaultOptions.urlStorage.removeUpload(p.urlStorageKey);
      continue;
    }
    out.push({ key: p.urlStorageKey, fileName: p.metadata?.filename ?? 'file', size: p.size, startedAt: p.creationTime, offset: o?.offset });
  }
  return out;
}

/** Give up an unfinished upload: remove it on the server and forget it here. */
export async function forgetUpload(key: string): Promise<void> {
  const all: PreviousUpload[] = await defaultOptions.urlStorage.findAllUploads();
  const p = all.find((x) => x.urlStorageKey === key);
  if (p?.uploadUrl) await Upload.terminate(p.uploadUrl, { headers: csrfHeaders() }).catch(() => undefined);
  await defaultOptions.urlStorage.removeUpload(key);
}
