/**
 * CMCD (CTA-5004) from a request: the `CMCD` query parameter (one comma list) or the four headers
 * CMCD-Request/-Object/-Status/-Session (hls.js `useHeaders`). Parsed only for requests that are
 * logged, never for the cache key.
 *
 * Grammar: `key=value` pairs separated by commas; a bare key is boolean true; strings are
 * double-quoted; tokens (ot, sf, st, ...) are unquoted; numbers are plain.
 */
import type { IncomingHttpHeaders } from 'node:http';

const CMCD_HEADERS = ['cmcd-request', 'cmcd-object', 'cmcd-status', 'cmcd-session'] as const;
const MAX_CMCD_CHARS = 2048;

export type CmcdData = Record<string, string | number | boolean>;

export function parseCmcdList(text: string, into: CmcdData = {}): CmcdData {
  if (text.length > MAX_CMCD_CHARS) return into;
  // Split on commas outside double quotes.
  let i = 0;
  while (i < text.length) {
    let j = i;
    let isQuoted = false;
    while (j < text.length && (isQuoted || text[j] !== ',')) {
      if (text[j] === '"') isQuoted = !isQuoted;
      j++;
    }
    const pair = text.slice(i, j).trim();
    i = j + 1;
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const key = (eq < 0 ? pair : pair.slice(0, eq)).trim();
    if (!/^[a-z][a-z0-9-]{0,31}$/i.test(key)) continue;
    if (eq < 0) {
      into[key] = true;
      continue;
    }
    const raw = pair.slice(eq + 1).trim();
    if (raw.startsWith('"') && raw.endsWith('"') && raw.length >= 2) into[key] = raw.slice(1, -1).replace(/\\"/g, '"').slice(0, 256);
    else if (/^-?\d+(\.\d+)?$/.test(raw)) into[key] = Number(raw);
    else into[key] = raw.slice(0, 64);
  }
  return into;
}

/** CMCD from the query string (already split off the path) and headers; null when the request has none. */
export function readCmcd(query: string, headers: IncomingHttpHeaders): CmcdData | null {
  let out: CmcdData | null = null;
  if (query) {
    for (const part of query.split('&')) {
      if (part.startsWith('CMCD=') || part.startsWith('cmcd=')) {
        let value: string;
        try {
          value = decodeURIComponent(part.slice(5).replace(/\+/g, ' '));
        } catch {
          continue;
        }
        out = parseCmcdList(value, out ?? {});
      }
    }
  }
  for (const h of CMCD_HEADERS) {
    const v = headers[h];
    if (typeof v === 'string') out = parseCmcdList(v, out ?? {});
  }
  return out;
}
