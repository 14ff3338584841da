/** Rules shared by every adapter, so a key that works on the filesystem also works on S3 and back. */
import { AppError } from '@platform/errors';
import type { ByteRange } from './types';

/**
 * Keys are relative, slash-separated paths: no leading slash, no empty, `.` or `..` segments, no
 * backslashes or control characters, at most 1024 bytes (S3's limit). A prefix may end with `/` or be ''.
 */
export function assertValidKey(key: string, what: 'key' | 'prefix' = 'key'): void {
  const bad = (why: string) => new AppError('bad_request', `Object ${what} "${key.slice(0, 80)}" is invalid: ${why}.`);
  if (what === 'key' && key.length === 0) throw bad('it is empty');
  if (Buffer.byteLength(key) > 1024) throw bad('it is longer than 1024 bytes');
  if (key.startsWith('/')) throw bad('it must be relative (no leading /)');
  if (/[\u0000-\u001f\u007f\\]/.test(key)) throw bad('it contains a control character or a backslash');
  if (what === 'key' && key.endsWith('/')) throw bad('it ends with /');
  // A prefix's last segment may be partial ('tracks/ab' matches 'tracks/abc'); a trailing '/' is fine.
  const segments = what === 'prefix' ? key.split('/').slice(0, -1) : key.split('/');
  for (const s of segments) {
    if (s === '') throw bad('it contains an empty path segment');
    if (s === '.' || s === '..') throw bad('it contains a . or .. segment');
  }
  if (what === 'prefix' && key.split('/').pop() === '..') throw bad('it contains a . or .. segment');
}

/** Resolves an inclusive range against the object size (end clipped to the last byte, as HTTP does). */
export function resolveRange(range: ByteRange, size: number, key: string): { start: number; end: number } {
  const { start } = range;
  const end = range.end === undefined ? size - 1 : Math.min(range.end, size - 1);
  if (!Number.isSafeInteger(start) || start < 0 || (range.end !== undefined && (!Number.isSafeInteger(range.end) || range.end < start))) {
    throw new AppError('range_not_satisfiable', `Byte range ${start}-${range.end ?? ''} is malformed for "${key}".`, { extra: { size } });
  }
  if (start >= size) {
    throw new AppError('range_not_satisfiable', `Byte range starts at ${start} but "${key}" is only ${size} bytes long.`, { extra: { size } });
  }
  return { start, end };
}

const TYPES: Record<string, string> = {
  m3u8: 'application/vnd.apple.mpegurl',
  mpd: 'application/dash+xml',
  m4s: 'video/iso.segment',
  mp4: 'audio/mp4',
  m4a: 'audio/mp4',
  ts: 'video/mp2t',
  aac: 'audio/aac',
  mp3: 'audio/mpeg',
  flac: 'audio/flac',
  wav: 'audio/wav',
  ogg: 'audio/ogg',
  opus: 'audio/ogg',
  webm: 'audio/webm',
  json: 'application/json',
  txt: 'text/plain; charset=utf-8',
  vtt: 'text/vtt',
  lrc: 'text/plain; charset=utf-8',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  avif: 'image/avif',
};

/** Content type guessed from the key's extension, used when a put gives none (and for list()). */
export function guessContentType(key: string): string {
  const ext = /\.([a-z0-9]+)$/i.exec(key)?.[1]?.toLowerCase();
  return (ext && TYPES[ext]) || 'application/octet-stream';
}
