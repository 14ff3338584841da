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
  // over a whole envelope, and type, codec, error code and edge take few values. JSON.stringify per
  // field was a fresh string each time (garbage for the writer's collector).
  const few = new Map<string, string>();
  const json = (v: string) => {
    let j = few.get(v);
    if (j === undefined) {
      j = str(v);
      if (few.size < 4096) few.set(v, j);
    }
    return j;
  };
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
