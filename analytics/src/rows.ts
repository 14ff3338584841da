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

/** ClickHouse DateTime64(3) text in UTC: '2026-11-26 04:00:00.123'. */
export function chTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 23).replace('T', ' ');
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

/** JSONCompactEachRow lines of `playback_events` (columns as rowValues, then batchToken). */
export function rowsBody(block: EventRow[], token: string): Buffer {
  const tail = `,${JSON.stringify(token)}]\n`;
  let out = '';
  for (const r of block) {
    const line = JSON.stringify(rowValues(r));
    out += line.slice(0, -1) + tail;
  }
  return Buffer.from(out);
}
