/**
 * Beacon envelopes (what the collector produced) -> rows of `playback_events`. Pure functions, shared
 * by the consumer and the benchmark's direct-insert anchor.
 */
import type { TBeaconEnvelope } from '@platform/models';

export interface EventRow {
  eventId: string;
  eventTime: string;
  receivedAt: string;
  clientTs: number;
  sessionId: string;
  userId: string;
  trackId: string;
  type: string;
  positionMs: number;
  codec: string;
  bitrateKbps: number;
  startupMs: number | null;
  bufferMs: number | null;
  durationMs: number | null;
  errorCode: string;
  edgeId: string;
  cmcd: string;
}

// The text of the last whole second formatted: events of one envelope nearly always share it, and
// Date#toISOString per event was ~2.4% of the pipeline's main thread in a profile.
let lastSecond = NaN;
let lastSecondText = '';

/** ClickHouse DateTime64(3) text in UTC: '2026-11-26 04:00:00.123'. */
export function chTime(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) return new Date(ms).toISOString().slice(0, 23).replace('T', ' ');
  const second = Math.floor(ms / 1000);
  if (second !== lastSecond) {
    lastSecond = second;
    lastSecondText = new Date(second * 1000).toISOString().slice(0, 19).replace('T', ' ');
  }
  const frac = ms - second * 1000;
  return lastSecondText + (frac < 10 ? '.00' : frac < 100 ? '.0' : '.') + frac;
}

export function envelopeRows(env: TBeaconEnvelope): EventRow[] {
  const receivedAt = chTime(env.receivedAt);
  return env.events.map((e) => ({
    eventId: e.eventId.toLowerCase(),
    eventTime: chTime(e.eventTime),
    receivedAt,
    clientTs: e.ts,
    sessionId: e.sessionId,
    userId: env.userId ?? '',
    trackId: e.trackId,
    type: e.type,
    positionMs: e.positionMs,
    codec: e.rendition?.codec ?? '',
    bitrateKbps: e.rendition?.bitrateKbps ?? 0,
    startupMs: e.startupMs ?? null,
    bufferMs: e.bufferMs ?? null,
    durationMs: e.durationMs ?? null,
    errorCode: e.errorCode ?? '',
    edgeId: e.edgeId ?? '',
    cmcd: e.cmcd ? JSON.stringify(e.cmcd) : '',
  }));
}

/** The row as JSONCompactEachRow values, in the column order of `playback_events` (without batchToken). */
export function rowValues(r: EventRow): unknown[] {
  return [
    r.eventId, r.eventTime, r.receivedAt, r.clientTs, r.sessionId, r.userId, r.trackId, r.type, r.positionMs, r.codec,
    r.bitrateKbps, r.startupMs, r.bufferMs, r.durationMs, r.errorCode, r.edgeId, r.cmcd,
  ];
}

const str = JSON.stringify;
const opt = (n: number | null) => (n === null ? 'null' : String(n));

/**
 * JSONCompactEachRow lines of `playback_events` (columns as rowValues, then batchToken), written out
 * field by field: no array per row. Free-text fields go through JSON.stringify; eventId, the times and
 * the numbers are validated upstream (UUID, DateTime text, integers) and need no escaping.
 *
 * The text goes into the buffer 256 rows at a time. One string of the whole block (`out += line` over
 * 50k rows, then Buffer.from) made V8 flatten a rope of a million pieces: measured 8.6-9.4 us per row
 * against 1.6-1.7 us this way, and the flattening alone was ~9% of the writer's thread.
 */
export function rowsBody(block: EventRow[], token: string): Buffer {
  const tail = `,${str(token)}]\n`;
  let buf = Buffer.allocUnsafe(block.length * 256 + 4096);
  let used = 0;
  let out = '';
  // JSON text of values that repeat, computed once: session, user and (from real players) track run
  // over a whole envelope (the last one remembered below), and type, codec, error code and edge take few
  // values (fewJson). JSON.stringify per field was a fresh string each time (garbage for the collector).
  const json = fewJson;
  let sid: string | undefined;
  let sidJson = '';
  let uid: string | undefined;
  let uidJson = '';
  let tid: string | undefined;
  let tidJson = '';
  for (let i = 0; i < block.length; i++) {
    const r = block[i];
    if (r.sessionId !== sid) sidJson = str((sid = r.sessionId));
    if (r.userId !== uid) uidJson = str((uid = r.userId));
    if (r.trackId !== tid) tidJson = str((tid = r.trackId));
    out +=
      `["${r.eventId}","${r.eventTime}","${r.receivedAt}",${r.clientTs},${sidJson},${uidJson},${tidJson},` +
      `${json(r.type)},${r.positionMs},${json(r.codec)},${r.bitrateKbps},${opt(r.startupMs)},${opt(r.bufferMs)},${opt(r.durationMs)},` +
      `${json(r.errorCode)},${json(r.edgeId)},${r.cmcd === '' ? '""' : str(r.cmcd)}${tail}`;
    if ((i & 255) === 255 || i === block.length - 1) {
      // Room for the worst case (3 UTF-8 bytes per UTF-16 unit) instead of Buffer.byteLength, which
      // walked every chunk once more (~2.5% of the writer's thread in a profile).
      if (used + out.length * 3 > buf.length) {
        const bigger = Buffer.allocUnsafe((used + out.length * 3) * 2);
        buf.copy(bigger, 0, 0, used);
        buf = bigger;
      }
      used += buf.write(out, used);
      out = '';
    }
  }
  return buf.subarray(0, used);
}

// ---------------------------------------------------------------------------------------------------
// The consumer's rows: text written as the envelopes are parsed.

/** Length of the consumer's batch tokens (hex): each row of a RowText holds that many bytes for it. */
export const ROW_TOKEN_LENGTH = 40;
const TOKEN_PLACEHOLDER = `,"${'0'.repeat(ROW_TOKEN_LENGTH)}"]\n`;
/** Where a row's token starts, counted back from the row's end (`"<token>"]\n`). */
const TOKEN_FROM_END = ROW_TOKEN_LENGTH + 3;

// Hex digit values of lower-case hex, for every UTF-16 code unit (anything else: -1).
const HEX = new Int8Array(65536).fill(-1);
for (let i = 0; i < 16; i++) HEX['0123456789abcdef'.charCodeAt(i)] = i;

/**
 * Parses a lower-case UUID into out[at..at+3] (four 32-bit words); false (out unspecified) for any other
 * string.
 */
export function parseUuid(id: string, out: Int32Array, at: number): boolean {
  if (id.length !== 36 || id.charCodeAt(8) !== 45 || id.charCodeAt(13) !== 45 || id.charCodeAt(18) !== 45 || id.charCodeAt(23) !== 45) return false;
  let bad = 0;
  let acc = 0;
  let digits = 0;
  let k = at;
  for (let i = 0; i < 36; i++) {
    const c = id.charCodeAt(i);
    if (c === 45) continue;
    const v = HEX[c];
    bad |= v;
    acc = (acc << 4) | v;
    if (++digits === 8) {
      out[k++] = acc;
      acc = 0;
      digits = 0;
    }
  }
  return bad >= 0 && k === at + 4;
}

/**
 * Rows of `playback_events` as JSONCompactEachRow text, written as the envelopes are parsed: the text in
 * one growing buffer (outside V8's heap), and per row its offset, its id as a 128-bit key, its event
 * time and its envelope's receivedAt, in typed arrays. Nothing per event stays on the JavaScript heap:
 * the parsed envelopes die young. (Row objects, or the parsed events themselves, kept until their insert
 * a few hundred ms later, were promoted to the old generation and collected there: kept events measured
 * 26-60% of the writer thread in garbage collection, e2e 42-48k events/s against 56k.)
 *
 * Each row ends with a placeholder for the batch token (`ROW_TOKEN_LENGTH` characters); `assembleRows`
 * copies the rows a block keeps and writes its token into them. Ids must be lower-case UUIDs (the
 * consumer's envelope check); other fields as `rowsBody` (same text, byte for byte).
 */
export class RowText {
  buf: Buffer;
  used = 0;
  count = 0;
  /** starts[i]: byte offset of row i; starts[count] = used. */
  starts: Int32Array;
  /** keys[4i..4i+3]: row i's event id (parseUuid). */
  keys: Int32Array;
  eventTimes: Float64Array;
  receivedAts: Float64Array;

  constructor(rows = 1024, bytes = rows * 288) {
    this.buf = Buffer.allocUnsafe(Math.max(4096, bytes));
    this.starts = new Int32Array(rows + 1);
    this.keys = new Int32Array(rows * 4);
    this.eventTimes = new Float64Array(rows);
    this.receivedAts = new Float64Array(rows);
  }

  /** Row i's event id (lower-case UUID text). */
  id(i: number): string {
    return this.buf.toString('latin1', this.starts[i] + 2, this.starts[i] + 38);
  }

  private grow(rows: number, bytes: number): void {
    if (this.count + rows > this.eventTimes.length) {
      const n = Math.max(this.count + rows, this.eventTimes.length * 2);
      const starts = new Int32Array(n + 1);
      starts.set(this.starts.subarray(0, this.count + 1));
      this.starts = starts;
      const keys = new Int32Array(n * 4);
      keys.set(this.keys.subarray(0, this.count * 4));
      this.keys = keys;
      const times = new Float64Array(n);
      times.set(this.eventTimes.subarray(0, this.count));
      this.eventTimes = times;
      const received = new Float64Array(n);
      received.set(this.receivedAts.subarray(0, this.count));
      this.receivedAts = received;
    }
    if (this.used + bytes > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.used + bytes, this.buf.length * 2));
      this.buf.copy(bigger, 0, 0, this.used);
      this.buf = bigger;
    }
  }

  /**
   * Appends the envelope's events as rows; false, adding nothing, when an event id is not a lower-case
   * UUID (each id is parsed once, here: its key is what the consumer's duplicate checks use).
   */
  add(env: TBeaconEnvelope): boolean {
    const events = env.events;
    const n = events.length;
    this.grow(n, 0);
    const first = this.count;
    for (let i = 0; i < n; i++) {
      const id = events[i].eventId;
      if (typeof id !== 'string' || !parseUuid(id, this.keys, (first + i) * 4)) return false;
    }
    const head = `","${chTime(env.receivedAt)}",`;
    const userJson = env.userId ? str(env.userId) : '""';
    const lengths = rowLengths.length >= n ? rowLengths : (rowLengths = new Int32Array(n * 2));
    let out = '';
    let sid: string | undefined;
    let sidJson = '';
    let tid: string | undefined;
    let tidJson = '';
    for (let i = 0; i < n; i++) {
      const e = events[i];
      if (e.sessionId !== sid) sidJson = str((sid = e.sessionId));
      if (e.trackId !== tid) tidJson = str((tid = e.trackId));
      const rendition = e.rendition;
      const row =
        `["${e.eventId}","${chTime(e.eventTime)}${head}${e.ts},${sidJson},${userJson},${tidJson},` +
        `${fewJson(e.type)},${e.positionMs},${rendition ? `${fewJson(rendition.codec)},${rendition.bitrateKbps}` : '"",0'},` +
        `${optional(e.startupMs)},${optional(e.bufferMs)},${optional(e.durationMs)},` +
        `${e.errorCode ? fewJson(e.errorCode) : '""'},${e.edgeId ? fewJson(e.edgeId) : '""'},${e.cmcd ? str(str(e.cmcd)) : '""'}${TOKEN_PLACEHOLDER}`;
      lengths[i] = row.length;
      out += row;
    }
    this.grow(n, out.length * 3);
    const at = this.used;
    const written = this.buf.write(out, at);
    const starts = this.starts;
    if (written === out.length) {
      // All ASCII (the usual case): byte offsets are string offsets.
      let p = at;
      for (let i = 0; i < n; i++) {
        starts[first + i] = p;
        p += lengths[i];
      }
    } else {
      // Some row has multi-byte characters: find the row ends from the bytes (a row ends with "]\n" and
      // no string inside one holds a raw newline: JSON escapes it).
      let p = at;
      for (let i = 0; i < n; i++) {
        starts[first + i] = p;
        p = this.buf.indexOf(10, p) + 1;
      }
    }
    this.used = at + written;
    starts[first + n] = this.used;
    for (let i = 0; i < n; i++) {
      this.eventTimes[first + i] = events[i].eventTime;
      this.receivedAts[first + i] = env.receivedAt;
    }
    this.count = first + n;
    return true;
  }
}
let rowLengths = new Int32Array(256);
const optional = (n: number | null | undefined) => (n === undefined || n === null ? 'null' : n);

// JSON text of values that take few distinct values (type, codec, error code, edge), computed once.
const fewJsonCache = new Map<string, string>();
function fewJson(v: string): string {
  let j = fewJsonCache.get(v);
  if (j === undefined) {
    j = str(v);
    if (fewJsonCache.size < 4096) fewJsonCache.set(v, j);
  }
  return j;
}

/** The rows of one block: rows of `text` where `keep[i]` equals `mark`, for each part. */
export interface RowPick {
  text: RowText;
  /** Block numbers are days of event time: a byte could wrap (a foreign producer's batch spanning > 255 days). */
  keep: Uint32Array;
}

/**
 * The block's body: the picked rows' text copied out (contiguous runs at once) with `token` written into
 * each row's placeholder.
 */
export function assembleRows(parts: readonly RowPick[], mark: number, token: string): Buffer {
  if (token.length !== ROW_TOKEN_LENGTH || Buffer.byteLength(token) !== ROW_TOKEN_LENGTH) throw new Error(`assembleRows: token must be ${ROW_TOKEN_LENGTH} ASCII characters`);
  const tokenBytes = Buffer.from(token, 'latin1');
  let bytes = 0;
  for (const { text, keep } of parts) for (let i = 0; i < text.count; i++) if (keep[i] === mark) bytes += text.starts[i + 1] - text.starts[i];
  const body = Buffer.allocUnsafe(bytes);
  let at = 0;
  for (const { text, keep } of parts) {
    const { starts, buf, count } = text;
    for (let i = 0; i < count; ) {
      if (keep[i] !== mark) {
        i++;
        continue;
      }
      let j = i + 1;
      while (j < count && keep[j] === mark) j++;
      buf.copy(body, at, starts[i], starts[j]);
      for (let k = i; k < j; k++) tokenBytes.copy(body, at + starts[k + 1] - starts[i] - TOKEN_FROM_END);
      at += starts[j] - starts[i];
      i = j;
    }
  }
  return body;
}
