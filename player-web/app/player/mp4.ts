/**
 * The little of ISO BMFF the gapless chain needs: from an init segment the timescale and the encoder priming
 * (edit list media_time, else Opus pre-skip from dOps, else 1024 samples for AAC-LC from ffmpeg's native
 * encoder, 0 for FLAC), and from a media segment its decode time and duration. The init segment's edit list is
 * neutralized before appending (edts renamed to free) so every browser sees the same untrimmed timeline and
 * the trim is done by append windows, which MSE implementations apply sample-accurately to audio.
 */

export interface InitInfo {
  timescale: number;
  /** Samples (in timescale units) of encoder priming at the start of the media timeline. */
  primingSamples: number;
  /** Where the priming figure came from (reported by the e2e suite and debug handle). */
  primingSource: 'elst' | 'opus-preskip' | 'aac-default' | 'none';
  /** Sample entry fourcc: mp4a, Opus, fLaC, ... */
  sampleEntry: string;
}

export interface FragmentTiming {
  /** tfdt baseMediaDecodeTime of the first traf. */
  baseTime: number;
  /** Sum of the sample durations (timescale units). */
  duration: number;
}

const CONTAINERS = new Set(['moov', 'trak', 'mdia', 'minf', 'stbl', 'edts', 'moof', 'traf', 'mvex']);
/** Sample entries are containers after their fixed audio header (8 + 20 bytes). */
const AUDIO_ENTRIES = new Set(['mp4a', 'Opus', 'fLaC', 'ac-3', 'ec-3', 'enca']);

interface Box {
  type: string;
  start: number;
  /** First byte after the header. */
  body: number;
  end: number;
}

function* boxes(v: DataView, start: number, end: number): Generator<Box> {
  let off = start;
  while (off + 8 <= end) {
    let size = v.getUint32(off);
    const type = String.fromCharCode(v.getUint8(off + 4), v.getUint8(off + 5), v.getUint8(off + 6), v.getUint8(off + 7));
    let body = off + 8;
    if (size === 1) {
      size = Number(v.getBigUint64(off + 8));
      body += 8;
    } else if (size === 0) size = end - off;
    if (size < 8 || off + size > end) return;
    yield { type, start: off, body, end: off + size };
    off += size;
  }
}

/** Depth-first walk into the containers we know, calling `visit` for every box. */
function walk(v: DataView, start: number, end: number, visit: (b: Box) => void): void {
  for (const b of boxes(v, start, end)) {
    visit(b);
    if (CONTAINERS.has(b.type)) walk(v, b.body, b.end, visit);
    else if (b.type === 'stsd') walk(v, b.body + 8, b.end, visit);
    else if (AUDIO_ENTRIES.has(b.type)) walk(v, b.body + 28, b.end, visit);
  }
}

export function parseInit(buf: ArrayBuffer): InitInfo {
  const v = new DataView(buf);
  let timescale = 0;
  let elstMediaTime: number | undefined;
  let preSkip: number | undefined;
  let sampleEntry = '';
  walk(v, 0, v.byteLength, (b) => {
    if (b.type === 'mdhd') {
      const version = v.getUint8(b.body);
      timescale = v.getUint32(b.body + (version === 1 ? 20 : 12));
    } else if (b.type === 'elst' && elstMediaTime === undefined) {
      const version = v.getUint8(b.body);
      const count = v.getUint32(b.body + 4);
      // The first entry with a media time (an empty edit, media_time -1, only delays the start).
      for (let i = 0; i < count; i++) {
        const e = b.body + 8 + i * (version === 1 ? 20 : 12);
        const mt = version === 1 ? Number(v.getBigInt64(e + 8)) : v.getInt32(e + 4);
        if (mt >= 0) {
          elstMediaTime = mt;
          break;
        }
      }
    } else if (b.type === 'dOps') {
      preSkip = v.getUint16(b.body + 2);
    } else if (AUDIO_ENTRIES.has(b.type) && !sampleEntry) sampleEntry = b.type;
  });
  if (!timescale) throw new Error('init segment without mdhd timescale');
  if (elstMediaTime !== undefined) return { timescale, primingSamples: elstMediaTime, primingSource: 'elst', sampleEntry };
  // Opus pre-skip is in 48 kHz samples; Opus in MP4 uses a 48 kHz timescale.
  if (preSkip !== undefined) return { timescale, primingSamples: Math.round((preSkip * timescale) / 48000), primingSource: 'opus-preskip', sampleEntry };
  if (sampleEntry === 'mp4a') return { timescale, primingSamples: 1024, primingSource: 'aac-default', sampleEntry };
  return { timescale, primingSamples: 0, primingSource: 'none', sampleEntry };
}

/** A copy of the init segment whose edit lists no browser will apply (edts boxes renamed to free). */
export function withoutEditList(buf: ArrayBuffer): ArrayBuffer {
  const out = buf.slice(0);
  const v = new DataView(out);
  walk(v, 0, v.byteLength, (b) => {
    if (b.type === 'edts') for (const [i, c] of [...'free'].entries()) v.setUint8(b.start + 4 + i, c.charCodeAt(0));
  });
  return out;
}

export function parseFragment(buf: ArrayBuffer): FragmentTiming {
  const v = new DataView(buf);
  let baseTime: number | undefined;
  let duration = 0;
  let defaultDuration = 0;
  walk(v, 0, v.byteLength, (b) => {
    if (b.type === 'tfhd') {
      const flags = v.getUint32(b.body) & 0xffffff;
      let p = b.body + 8;
      if (flags & 0x1) p += 8;
      if (flags & 0x2) p += 4;
      defaultDuration = flags & 0x8 ? v.getUint32(p) : 0;
    } else if (b.type === 'tfdt' && baseTime === undefined) {
      baseTime = v.getUint8(b.body) === 1 ? Number(v.getBigUint64(b.body + 4)) : v.getUint32(b.body + 4);
    } else if (b.type === 'trun') {
      const flags = v.getUint32(b.body) & 0xffffff;
      const count = v.getUint32(b.body + 4);
      let p = b.body + 8;
      if (flags & 0x1) p += 4;
      if (flags & 0x4) p += 4;
      const stride = (flags & 0x100 ? 4 : 0) + (flags & 0x200 ? 4 : 0) + (flags & 0x400 ? 4 : 0) + (flags & 0x800 ? 4 : 0);
      if (!(flags & 0x100)) duration += count * defaultDuration;
      else for (let i = 0; i < count; i++, p += stride) duration += v.getUint32(p);
    }
  });
  if (baseTime === undefined) throw new Error('media segment without tfdt');
  return { baseTime, duration };
}

/**
 * A copy of a media segment whose last sample lasts as long as the one before it (a whole codec frame).
 * Encoders in MP4 mark the end padding by giving the last AAC/Opus frame a short duration (680 of 1024, 312 of
 * 960); decoders still output the whole frame, and Chromium plays all of it (measured: 13.5 ms of Opus padding
 * at the join). With the frame's full duration in the container, an append window that ends at the real end
 * cuts the frame partway, and MSE turns that cut into decoder discard padding: exactly the padding is dropped.
 * Not for FLAC, whose last frame decodes to its own (short) block size.
 */
export function withWholeLastFrame(buf: ArrayBuffer): ArrayBuffer {
  const out = buf.slice(0);
  const v = new DataView(out);
  walk(v, 0, v.byteLength, (b) => {
    if (b.type !== 'trun') return;
    const flags = v.getUint32(b.body) & 0xffffff;
    const count = v.getUint32(b.body + 4);
    if (!(flags & 0x100) || count < 2) return;
    let p = b.body + 8;
    if (flags & 0x1) p += 4;
    if (flags & 0x4) p += 4;
    const stride = (flags & 0x100 ? 4 : 0) + (flags & 0x200 ? 4 : 0) + (flags & 0x400 ? 4 : 0) + (flags & 0x800 ? 4 : 0);
    const lastAt = p + (count - 1) * stride;
    const frame = v.getUint32(lastAt - stride);
    if (v.getUint32(lastAt) < frame) v.setUint32(lastAt, frame);
  });
  return out;
}
