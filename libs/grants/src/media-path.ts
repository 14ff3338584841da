/**
 * The one definition of a media object key, shared by the edge and the origin so both refuse the
 * same things. Keys look like `tracks/{trackId}/v{n}/{rendition}/{file}` as the packager writes them.
 *
 * We never percent-decode: our keys contain only [A-Za-z0-9._-] and `/`, so any `%` is either an
 * encoding trick (`%2e%2e`, `%252e`, `%00`, `%5c`) or not one of our objects, and is refused outright.
 * Segments starting with a dot (`.`, `..`, hidden files) and empty segments (`//`) are refused too.
 */

export interface MediaKey {
  /** Object storage key, e.g. tracks/abc/v2/aac_128/seg_3.m4s */
  key: string;
  trackId: string;
  version: number;
  /** Path after `v{n}/`, e.g. aac_128/seg_3.m4s */
  file: string;
  ext: MediaExt;
}

export const MEDIA_TYPES = {
  m3u8: 'application/vnd.apple.mpegurl',
  mpd: 'application/dash+xml',
  mp4: 'audio/mp4',
  m4s: 'audio/mp4',
  m4a: 'audio/mp4',
  ts: 'video/mp2t',
  aac: 'audio/aac',
  mp3: 'audio/mpeg',
  vtt: 'text/vtt',
  json: 'application/json',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
} as const;
export type MediaExt = keyof typeof MEDIA_TYPES;

/** Manifests change when a version is re-packaged (codec string fixes); everything else is immutable. */
export function isManifestExt(ext: MediaExt): boolean {
  return ext === 'm3u8' || ext === 'mpd' || ext === 'json';
}

export const MAX_KEY_CHARS = 512;
const SEGMENT_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const TRACK_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
const VERSION_RE = /^v(0|[1-9][0-9]{0,8})$/;

/** Parse a key (no leading slash). null when it is not a servable media key. */
export function parseMediaKey(key: string): MediaKey | null {
  if (key.length > MAX_KEY_CHARS || !key.startsWith('tracks/')) return null;
  const parts = key.split('/');
  if (parts.length < 4 || parts.length > 8) return null;
  for (let i = 1; i < parts.length; i++) if (!SEGMENT_RE.test(parts[i])) return null;
  if (!TRACK_ID_RE.test(parts[1])) return null;
  const v = VERSION_RE.exec(parts[2]);
  if (!v) return null;
  const name = parts[parts.length - 1];
  const dot = name.lastIndexOf('.');
  if (dot <= 0) return null;
  const ext = name.slice(dot + 1).toLowerCase();
  if (!Object.prototype.hasOwnProperty.call(MEDIA_TYPES, ext)) return null;
  return { key, trackId: parts[1], version: Number(v[1]), file: parts.slice(3).join('/'), ext: ext as MediaExt };
}

/** Path for an object key inside a grant URL: the grant sits in the path so relative URIs inherit it. */
export function grantPath(grant: string, key: string): string {
  return `/g/${grant}/${key}`;
}
