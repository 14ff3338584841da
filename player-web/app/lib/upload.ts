/**
 * Multipart upload with progress (XMLHttpRequest: fetch still has no upload progress in browsers).
 * POST /api/tracks (CONTRACT): `file` plus title/artist/album/genre/cover -> 202 {id, status, downmix, notices}.
 * Errors resolve to ApiError with the server's problem+json detail.
 */
import { ApiError, csrfHeaders } from './api';

/** Blank fields are not sent: the server fills them from the file's tags, then its name. */
export interface UploadFields {
  title?: string;
  artist?: string;
  album?: string;
  genre?: string;
}

export function uploadTrack(file: File, fields: UploadFields, cover: File | undefined, onProgress: (fraction: number) => void, signal?: AbortSignal): Promise<{ id: string; status: string; notices: string[] }> {
  return new Promise((resolve, reject) => {
    const fd = new FormData();
    for (const [k, v] of Object.entries(fields)) if (v) fd.append(k, v);
    if (cover) fd.append('cover', cover, cover.name);
    // The file goes last so a server streaming the multipart body has read the text fields first.
    fd.append('file', file, file.name);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/tracks');
    for (const [k, v] of Object.entries(csrfHeaders())) xhr.setRequestHeader(k, v);
    xhr.setRequestHeader('accept', 'application/json');
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => {
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(xhr.responseText || '{}') as Record<string, unknown>;
      } catch {
        /* not JSON */
      }
      if (xhr.status >= 200 && xhr.status < 300 && (typeof body.id === 'string' || typeof body.id === 'number')) {
        onProgress(1);
        // notices: things the musician should know that are not errors (e.g. a 5.1 file downmixed to stereo).
        const notices = Array.isArray(body.notices) ? body.notices.filter((n): n is string => typeof n === 'string') : [];
        if (!notices.length && body.downmix === true) notices.push('The file has more than two channels; it will be downmixed to stereo for streaming (the original is kept).');
        resolve({ id: String(body.id), status: String(body.status ?? 'processing'), notices });
      } else {
        const detail = typeof body.detail === 'string' ? body.detail : typeof body.title === 'string' ? body.title : `Upload failed (${xhr.status} ${xhr.statusText}).`;
        reject(new ApiError(xhr.status, typeof body.code === 'string' ? body.code : `http_${xhr.status}`, detail));
      }
    };
    xhr.onerror = () => reject(new ApiError(0, 'network_error', 'The upload was interrupted. Check your connection and try again.'));
    xhr.onabort = () => reject(new ApiError(0, 'aborted', 'Upload cancelled.'));
    signal?.addEventListener('abort', () => xhr.abort());
    xhr.send(fd);
  });
}
