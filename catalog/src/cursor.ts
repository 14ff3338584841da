/** Opaque keyset cursors: base64url JSON of the last row's sort key; validated on the way back in. */
import { AppError } from '@platform/errors';

export function encodeCursor(values: Array<string | number>): string {
  return Buffer.from(JSON.stringify(values)).toString('base64url');
}

/** Decode a cursor whose elements must have the given kinds; a tampered cursor is a 400. */
type Kind = 'number' | 'int' | 'uuid' | 'ts';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// PostgreSQL's timestamptz text form, e.g. "2026-11-26 04:01:02.123456+00".
const TS_RE = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?(?:([+-])(\d{2})(?::?(\d{2}))?|Z)?$/;
const INT4_MAX = 2147483647;

/**
 * The shape alone is not enough: PostgreSQL rejects "2026-13-45 99:99:99" or year 0 with an error,
 * which would surface as a 500 for a forged cursor. Check that every field is a real calendar value.
 */
function isRealTimestamp(x: string): boolean {
  const m = TS_RE.exec(x);
  if (!m) return false;
  const [y, mo, d, h, mi, sec] = m.slice(1, 7).map(Number);
  if (y < 1 || h > 23 || mi > 59 || sec > 59) return false;
  const dt = new Date(Date.UTC(y, mo - 1, d));
  if (dt.getUTCMonth() !== mo - 1 || dt.getUTCDate() !== d) return false;
  if (m[9] !== undefined && (Number(m[9]) > 15 || Number(m[10] ?? 0) > 59)) return false;
  return true;
}

function ok(x: unknown, kind: Kind): boolean {
  if (kind === 'number') return typeof x === 'number' && Number.isFinite(x);
  // Integer columns (playlist positions): a float or 1e308 would be a database error, not a 400.
  if (kind === 'int') return typeof x === 'number' && Number.isInteger(x) && Math.abs(x) <= INT4_MAX;
  if (typeof x !== 'string') return false;
  return kind === 'uuid' ? UUID_RE.test(x) : isRealTimestamp(x);
}

export function decodeCursor(cursor: string | undefined, kinds: Kind[]): Array<string | number> | null {
  if (cursor === undefined) return null;
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    v = undefined;
  }
  if (!Array.isArray(v) || v.length !== kinds.length || v.some((x, i) => !ok(x, kinds[i]))) {
    throw new AppError('validation_failed', 'query.cursor: is not a cursor from this API (pass nextCursor from the previous page unchanged).', {
      extra: { errors: [{ field: 'query.cursor', message: 'is not a cursor from this API' }] },
    });
  }
  return v as Array<string | number>;
}

/** Split a fetched `limit + 1` rows into the page and the cursor for the next one. */
export function page<R, O>(rows: R[], limit: number, key: (last: R) => Array<string | number>, map: (r: R) => O): { items: O[]; nextCursor: string | null } {
  const more = rows.length > limit;
  const slice = more ? rows.slice(0, limit) : rows;
  return { items: slice.map(map), nextCursor: more ? encodeCursor(key(slice[slice.length - 1])) : null };
}
