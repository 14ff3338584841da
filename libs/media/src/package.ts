/**
 * Packaging with shaka-packager: CMAF fMP4 segments for AAC/Opus/FLAC (one run, which also writes
 * the static DASH MPD), MPEG-TS segments for MP3 (a second run: shaka reads MP3 only from TS and
 * MP3 has no place in the MPD). The two HLS masters are merged into one `master.m3u8` with
 * RFC 6381 codec strings. Every URI written is relative, so a grant carried in the URL path
 * (/g/{grant}/tracks/...) reaches every playlist and segment without rewriting anything.
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '@platform/errors';
import { run, tail, toolPath } from './process';
import type { EncodedRendition, MediaOptions } from './types';

export const DEFAULT_SEGMENT_DURATION_S = 4;
export const MASTER_PLAYLIST = 'master.m3u8';
export const DASH_MANIFEST = 'manifest.mpd';
/** Every media playlist is `{renditionId}/playlist.m3u8` next to its segments. */
export const MEDIA_PLAYLIST = 'playlist.m3u8';

export interface PackageOptions extends MediaOptions {
  segmentDurationS?: number;
}

export interface PackagedRendition {
  id: string;
  codec: EncodedRendition['codec'];
  bitrateKbps: number | null;
  container: EncodedRendition['container'];
  /** Relative to the output dir. */
  playlist: string;
  /** RFC 6381 codec string as written in the master. */
  codecs: string;
  /** Peak and average bits per second measured by the packager. */
  bandwidth: number;
  averageBandwidth: number;
  /** Sum of the media playlist's EXTINF, ms. */
  durationMs: number;
  /** Segments in the media playlist (each EXTINF is rounded to 1 ms by shaka-packager). */
  segments: number;
}

export interface PackageResult {
  master: string;
  dash: string;
  renditions: PackagedRendition[];
  /** Every file written, relative to outDir, manifests last (publish in this order). */
  files: string[];
}

/** shaka writes `mp3` and `flac`; browsers and hls.js want `mp4a.40.34`, Apple's validator `fLaC`; `opus` stays lower-case. */
export function fixCodecString(codec: string): string {
  const c = codec.trim();
  if (/^mp3$/i.test(c) || c === 'mp4a.6b' || c === 'mp4a.69') return 'mp4a.40.34';
  if (/^flac$/i.test(c)) return 'fLaC';
  if (/^opus$/i.test(c)) return 'opus';
  return c;
}

/**
 * The HLS master of an audio-only package: one EXT-X-STREAM-INF per rendition with CODECS, the packager's
 * measured peak BANDWIDTH and AVERAGE-BANDWIDTH, and no EXT-X-MEDIA audio group. shaka lists every rendition
 * both as an alternate audio track and as a variant that points at it (AUDIO="audio"); hls.js then treats the
 * group's DEFAULT as a separate audio track and plays it whatever variant is chosen, fetching both. Plain
 * audio-only variants are what hls.js plays directly, and what Apple's authoring spec describes for
 * audio-only streams (Safari starts with the first variant, so AAC 128 comes first: it plays everywhere).
 */
export function writeAudioMaster(renditions: readonly Pick<PackagedRendition, 'playlist' | 'codecs' | 'bandwidth' | 'averageBandwidth'>[]): string {
  const lines = ['#EXTM3U', '#EXT-X-VERSION:6', '#EXT-X-INDEPENDENT-SEGMENTS', ''];
  for (const r of renditions) {
    const avg = r.averageBandwidth > 0 ? `,AVERAGE-BANDWIDTH=${Math.round(r.averageBandwidth)}` : '';
    lines.push(`#EXT-X-STREAM-INF:BANDWIDTH=${Math.max(1, Math.round(r.bandwidth))}${avg},CODECS="${r.codecs}"`, r.playlist);
  }
  return lines.join('\n') + '\n';
}

interface MasterEntry {
  streamInf: string;
  uri: string;
}

/** The (EXT-X-STREAM-INF, URI) pairs of a shaka master keyed by URI (its measured bandwidths and codecs). */
function parseShakaMaster(text: string): Map<string, MasterEntry> {
  const lines = text.split('\n').map((l) => l.trim());
  const out = new Map<string, MasterEntry>();
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].startsWith('#EXT-X-STREAM-INF:')) continue;
    out.set(lines[i + 1], { streamInf: lines[i], uri: lines[i + 1] });
    i++;
  }
  return out;
}

const attr = (line: string, name: string): string | undefined => new RegExp(`[:,]${name}=("[^"]*"|[^,]*)`).exec(line)?.[1]?.replace(/^"|"$/g, '');

function playlistDurationMs(text: string): number {
  let s = 0;
  for (const m of text.matchAll(/#EXTINF:([\d.]+)/g)) s += Number(m[1]);
  return Math.round(s * 1000);
}

/**
 * Does a packaged rendition last as long as the source? The playlist's duration is a sum of EXTINF
 * values that shaka-packager rounds to the millisecond, so the sum drifts by up to 0.5 ms per segment
 * even when the media is sample-exact: FLAC's 4608-sample frames make 3.9706 s segments written as
 * 3.971, and a 28-minute track's playlist reads ~106 ms long. That drift is not an encoder gap, so it
 * is allowed on top of the 50 ms budget for priming and padding.
 */
export function renditionDurationMatches(r: Pick<PackagedRendition, 'durationMs' | 'segments'>, sourceMs: number, budgetMs = 50): boolean {
  return Math.abs(r.durationMs - sourceMs) <= budgetMs + 0.5 * r.segments + 1;
}

async function shaka(args: string[], cwd: string, opts: MediaOptions): Promise<void> {
  const res = await run(toolPath(opts.tools, 'packager'), args, { cwd, signal: opts.signal });
  // The exit status is the only trustworthy signal (the npm wrapper hides it).
  if (res.code !== 0) {
    opts.logger?.warn({ code: res.code, stderr: tail(res.stderr, 6) }, 'shaka-packager failed');
    throw new AppError('internal_error', `Packaging failed (shaka-packager exit ${res.code ?? res.signal}): ${tail(res.stderr, 2)}`);
  }
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(path.join(dir, e.name), rel)));
    else out.push(rel);
  }
  return out;
}

/** Preferred order in the master: AAC first (plays everywhere; 128 is the start level), then Opus, FLAC, MP3. */
const FAMILY_ORDER: Record<string, number> = { aac: 0, opus: 1, flac: 2, mp3: 3 };

export async function packageRenditions(renditions: readonly EncodedRendition[], outDir: string, opts: PackageOptions = {}): Promise<PackageResult> {
  const seg = opts.segmentDurationS ?? DEFAULT_SEGMENT_DURATION_S;
  if (!(seg > 0)) throw new AppError('validation_failed', 'Segment duration must be a positive number of seconds.');
  const fmp4 = renditions.filter((r) => r.container === 'fmp4');
  const ts = renditions.filter((r) => r.container === 'ts');
  if (fmp4.length === 0) throw new AppError('validation_failed', 'At least one fMP4 rendition (AAC, Opus or FLAC) is needed for the DASH manifest.');
  const common = ['--segment_duration', String(seg), '--quiet'];
  // Inputs are absolute; outputs are relative to cwd=outDir, which is what makes shaka write relative URIs.
  const descriptor = (r: EncodedRendition, ext: string, init: boolean) =>
    [
      `in=${path.resolve(r.file)}`,
      'stream=audio',
      ...(init ? [`init_segment=${r.id}/init.mp4`] : []),
      `segment_template=${r.id}/$Number$.${ext}`,
      `playlist_name=${r.id}/${MEDIA_PLAYLIST}`,
      'hls_group_id=audio',
      `hls_name=${r.id}`,
    ].join(',');

  await mkdir(outDir, { recursive: true });
  opts.onProgress?.({ stage: 'package', percent: 0 });
  const runs: Promise<void>[] = [
    shaka([...fmp4.map((r) => descriptor(r, 'm4s', true)), ...common, '--hls_master_playlist_output', '_master_fmp4.m3u8', '--mpd_output', DASH_MANIFEST, '--generate_static_live_mpd'], outDir, opts),
  ];
  if (ts.length) runs.push(shaka([...ts.map((r) => descriptor(r, 'ts', false)), ...common, '--hls_master_playlist_output', '_master_ts.m3u8'], outDir, opts));
  await Promise.all(runs);
  opts.onProgress?.({ stage: 'package', percent: 80 });

  const entries = parseShakaMaster(await readFile(path.join(outDir, '_master_fmp4.m3u8'), 'utf8'));
  if (ts.length) for (const [k, v] of parseShakaMaster(await readFile(path.join(outDir, '_master_ts.m3u8'), 'utf8'))) entries.set(k, v);
  await rm(path.join(outDir, '_master_fmp4.m3u8'), { force: true });
  await rm(path.join(outDir, '_master_ts.m3u8'), { force: true });

  const packaged: PackagedRendition[] = [];
  for (const r of renditions) {
    const uri = `${r.id}/${MEDIA_PLAYLIST}`;
    const e = entries.get(uri);
    if (!e) throw new AppError('internal_error', `Packaging produced no playlist for ${r.id}.`);
    const codecs = fixCodecString(attr(e.streamInf, 'CODECS') ?? r.codec);
    const mediaText = await readFile(path.join(outDir, uri), 'utf8');
    packaged.push({
      id: r.id, codec: r.codec, bitrateKbps: r.bitrateKbps, container: r.container, playlist: uri, codecs,
      bandwidth: Number(attr(e.streamInf, 'BANDWIDTH') ?? 0),
      averageBandwidth: Number(attr(e.streamInf, 'AVERAGE-BANDWIDTH') ?? attr(e.streamInf, 'BANDWIDTH') ?? 0),
      durationMs: playlistDurationMs(mediaText),
      segments: [...mediaText.matchAll(/#EXTINF:/g)].length,
    });
  }
  packaged.sort((a, b) => FAMILY_ORDER[a.codec] - FAMILY_ORDER[b.codec] || (a.bitrateKbps === 128 ? -1 : b.bitrateKbps === 128 ? 1 : (a.bitrateKbps ?? 0) - (b.bitrateKbps ?? 0)));

  await writeFile(path.join(outDir, MASTER_PLAYLIST), writeAudioMaster(packaged));

  // The MPD carries only fMP4 renditions; fix its codec strings the same way (flac/opus are already right for DASH).
  const mpdPath = path.join(outDir, DASH_MANIFEST);
  const mpd = await readFile(mpdPath, 'utf8');
  if (!/type="static"/.test(mpd)) throw new AppError('internal_error', 'The DASH manifest is not static.');

  const all = await listFiles(outDir);
  const isManifest = (f: string) => f.endsWith('.m3u8') || f.endsWith('.mpd');
  // Publish order: media first, then media playlists, then the master and the MPD.
  const files = [
    ...all.filter((f) => !isManifest(f)).sort(),
    ...all.filter((f) => f.endsWith(`/${MEDIA_PLAYLIST}`)).sort(),
    MASTER_PLAYLIST,
    DASH_MANIFEST,
  ];
  opts.onProgress?.({ stage: 'package', percent: 100 });
  return { master: MASTER_PLAYLIST, dash: DASH_MANIFEST, renditions: packaged, files };
}
