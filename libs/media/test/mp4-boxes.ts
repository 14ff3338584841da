/**
 * Just enough ISO BMFF reading to check what a player sees for encoder priming in an init segment: the
 * edit list (elst media_time: samples the player skips at the start), the media timescale, Opus pre-skip
 * (dOps) and the 'roll' sample group (sgpd: pre-roll after a seek).
 */
import { readFileSync } from 'node:fs';

export interface InitPriming {
  timescale: number;
  /** elst entries: [segment_duration, media_time]; empty when the init carries no edit list. */
  editList: [number, number][];
  opusPreSkip?: number;
  /** roll_distance of the 'roll' sample group, when there is one. */
  rollDistance?: number;
}

const CONTAINERS = new Set(['moov', 'trak', 'mdia', 'minf', 'stbl', 'edts']);

export function readInitPriming(file: string): InitPriming {
  const buf = readFileSync(file);
  const out: InitPriming = { timescale: 0, editList: [] };
  const walk = (start: number, end: number) => {
    for (let off = start; off + 8 <= end; ) {
      let size = buf.readUInt32BE(off);
      const type = buf.toString('latin1', off + 4, off + 8);
      let body = off + 8;
      if (size === 1) {
        size = Number(buf.readBigUInt64BE(off + 8));
        body = off + 16;
      } else if (size === 0) size = end - off;
      if (size < 8) break;
      const v = buf[body];
      if (type === 'mdhd') out.timescale = buf.readUInt32BE(body + (v === 1 ? 20 : 12));
      if (type === 'elst') {
        const n = buf.readUInt32BE(body + 4);
        for (let i = 0, p = body + 8; i < n; i++, p += v === 1 ? 20 : 12) {
          out.editList.push(v === 1 ? [Number(buf.readBigUInt64BE(p)), Number(buf.readBigInt64BE(p + 8))] : [buf.readUInt32BE(p), buf.readInt32BE(p + 4)]);
        }
      }
      if (type === 'stsd') {
        // One sample entry: 'Opus' holds a 'dOps' box after its 28-byte audio sample entry header.
        const entry = body + 8;
        if (buf.toString('latin1', entry + 4, entry + 8) === 'Opus') {
          const dops = buf.indexOf('dOps', entry, 'latin1');
          if (dops > 0) out.opusPreSkip = buf.readUInt16BE(dops + 4 + 2);
        }
      }
      if (type === 'sgpd' && buf.toString('latin1', body + 4, body + 8) === 'roll') {
        // version 1: default_length at +8, entry_count at +12, then roll_distance (int16) per entry.
        out.rollDistance = buf.readInt16BE(body + (v === 1 ? 16 : 12));
      }
      if (CONTAINERS.has(type)) walk(body, off + size);
      off += size;
    }
  };
  walk(0, buf.length);
  return out;
}
