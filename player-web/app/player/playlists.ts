/**
 * HLS playlist reading for the gapless chain (hls.js parses for itself). Reads both master shapes the packager
 * has written: plain audio-only variants (current) and variants that also point at an EXT-X-MEDIA audio group
 * (packages written before; the variant URIs are the same renditions, so the group is ignored).
 */

export interface Variant {
  uri: string;
  bandwidth: number;
  averageBandwidth: number;
  codecs: string;
}

export interface MediaSegment {
  uri: string;
  /** Start in the playlist's timeline (sum of the EXTINF before it), seconds. */
  start: number;
  duration: number;
}

export interface MediaPlaylist {
  initUri: string;
  segments: MediaSegment[];
  /** Sum of EXTINF (rounded per segment by the packager: an estimate, the media's own timing is exact). */
  duration: number;
}

function attrs(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of line.slice(line.indexOf(':') + 1).matchAll(/([A-Z0-9-]+)=("[^"]*"|[^,]*)/g)) out[m[1]] = m[2].replace(/^"|"$/g, '');
  return out;
}

export function parseMaster(text: string, baseUrl: string): Variant[] {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  const out: Variant[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].startsWith('#EXT-X-STREAM-INF:')) continue;
    const a = attrs(lines[i]);
    let j = i + 1;
    while (j < lines.length && (lines[j] === '' || lines[j].startsWith('#'))) j++;
    if (j >= lines.length) break;
    const bandwidth = Number(a.BANDWIDTH) || 0;
    out.push({ uri: new URL(lines[j], baseUrl).toString(), bandwidth, averageBandwidth: Number(a['AVERAGE-BANDWIDTH']) || bandwidth, codecs: a.CODECS ?? '' });
    i = j;
  }
  return out;
}

export function parseMediaPlaylist(text: string, baseUrl: string): MediaPlaylist {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  let initUri = '';
  const segments: MediaSegment[] = [];
  let t = 0;
  let pending: number | undefined;
  for (const l of lines) {
    if (l.startsWith('#EXT-X-MAP:')) initUri = new URL(attrs(l).URI ?? '', baseUrl).toString();
    else if (l.startsWith('#EXTINF:')) pending = parseFloat(l.slice(8));
    else if (l && !l.startsWith('#') && pending !== undefined) {
      segments.push({ uri: new URL(l, baseUrl).toString(), start: t, duration: pending });
      t += pending;
      pending = undefined;
    }
  }
  if (!initUri) throw new Error('media playlist without EXT-X-MAP (not fMP4)');
  return { initUri, segments, duration: t };
}
