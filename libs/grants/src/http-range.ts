/** Byte ranges and validators (RFC 9110), shared by the origin and the edge. */

export type RangeResult = { kind: 'none' } | { kind: 'ok'; start: number; end: number } | { kind: 'unsatisfiable' };

/**
 * One `bytes=` range against a known size. Multi-range and unknown units are ignored (a 200 with
 * the whole object is a valid answer to them, RFC 9110 14.2); syntactically bad ranges too.
 */
export function parseRange(header: string | undefined, size: number): RangeResult {
  if (!header) return { kind: 'none' };
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return { kind: 'none' };
  if (m[1] === '') {
    // Suffix range: the last N bytes.
    const n = Number(m[2]);
    if (n === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'ok', start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  let end = m[2] === '' ? size - 1 : Number(m[2]);
  if (m[2] !== '' && end < start) return { kind: 'none' };
  if (start >= size) return { kind: 'unsatisfiable' };
  if (end >= size) end = size - 1;
  return { kind: 'ok', start, end };
}

/** If-None-Match with weak comparison (RFC 9110 13.1.2): true when the client's copy is current. */
export function etagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  if (ifNoneMatch.trim() === '*') return true;
  const bare = etag.startsWith('W/') ? etag.slice(2) : etag;
  for (const part of ifNoneMatch.split(',')) {
    const t = part.trim();
    if ((t.startsWith('W/') ? t.slice(2) : t) === bare) return true;
  }
  return false;
}

/**
 * If-Range (RFC 9110 13.1.5): a client resuming a download sends the validator of the copy it has;
 * the Range applies only if that is still the current object, else the answer is the whole object
 * (a 206 spliced onto a different version would corrupt the client's copy). Entity tags compare
 * strongly (a weak tag never matches); a date must equal Last-Modified exactly.
 */
export function ifRangeAllows(ifRange: string | string[] | undefined, etag: string, lastModified?: string): boolean {
  if (ifRange === undefined) return true;
  if (Array.isArray(ifRange)) return false;
  const v = ifRange.trim();
  if (v.startsWith('"') || v.startsWith('W/')) return !etag.startsWith('W/') && v === etag;
  return lastModified !== undefined && v === lastModified;
}
