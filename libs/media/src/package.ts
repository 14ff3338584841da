/**
 * Packaging with shaka-packager: CMAF fMP4 segments for AAC/Opus/FLAC, MPEG-TS segments for MP3 (shaka
 * reads MP3 only from TS, and MP3 has no place in the MPD). One run per rendition (each may read a FIFO
 * that ffmpeg is still writing, see pipeline.ts); their one-variant masters and one-Representation static
 * MPDs are merged into one `master.m3u8` (RFC 6381 codec strings) and one `manifest.mpd`. Every URI
 * written is relative, so a grant carried in the URL path (/g/{grant}/tracks/...) reaches every playlist
 * and segment without rewriting anything.
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

/** Checks shared by both ways of packaging; returns the segment duration. */
export function checkPackageInput(renditions: readonly Pick<EncodedRendition, 'container'>[], opts: PackageOptions): number {
  const seg = opts.segmentDurationS ?? DEFAULT_SEGMENT_DURATION_S;
  if (!(seg > 0)) throw new AppError('validation_failed', 'Segment duration must be a positive number of seconds.');
  if (!renditions.some((r) => r.container === 'fmp4')) {
    throw new AppError('validation_failed', 'At least one fMP4 rendition (AAC, Opus or FLAC) is needed for the DASH manifest.');
  }
  return seg;
}

/**
 * --io_cache_size=0: shaka's default threaded I/O gives every file a 32 MiB cache and a thread that spins on
 * futexes; for our small files that costs ~8x the remux itself (9 renditions of 5 min: ~3 s CPU and ~2 s wall
 * with it, ~0.35 s CPU without; the output is byte-identical but for timestamps). Alone it hung now and then
 * (2 runs in 120 stuck in a futex wait, one thread left); with --single_threaded (one input per run anyway)
 * none did in 400.
 */
const SHAKA_IO = ['--io_cache_size=0', '--single_threaded'];
/** From files shaka takes well under a second per rendition of 5 minutes; a run this long is stuck. */
const SHAKA_FILE_TIMEOUT_MS = 5 * 60_000;
/** Streaming: how long shaka may take to finish after its ffmpeg wrote the last byte. */
export const SHAKA_DRAIN_TIMEOUT_MS = 60_000;
const shakaMaster = (r: Pick<EncodedRendition, 'id'>) => `_master_${r.id}.m3u8`;
const shakaMpd = (r: Pick<EncodedRendition, 'id'>) => `_dash_${r.id}.mpd`;

/**
 * One shaka-packager run for one rendition: CMAF segments (init.mp4 + $Number$.m4s) and a one-Representation
 * static MPD for AAC/Opus/FLAC, MPEG-TS segments for MP3 (shaka reads MP3 only from TS; MP3 has no place in
 * the MPD), plus its media playlist and a one-variant master (read back for BANDWIDTH and CODECS). One run per
 * rendition, not one for all: each input may be a FIFO that an ffmpeg is still writing (transcodeAndPackage),
 * and a run that reads one input cannot stall another's writer. finishPackage merges the MPDs and masters.
 */
export async function packageRendition(r: EncodedRendition, outDir: string, segmentDurationS: number, opts: MediaOptions = {}): Promise<void> {
  const fmp4 = r.container === 'fmp4';
  const descriptor = [
    // Inputs are absolute; outputs are relative to cwd=outDir, which is what makes shaka write relative URIs.
    `in=${path.resolve(r.file)}`,
    'stream=audio',
    ...(fmp4 ? [`init_segment=${r.id}/init.mp4`] : []),
    `segment_template=${r.id}/$Number$.${fmp4 ? 'm4s' : 'ts'}`,
    `playlist_name=${r.id}/${MEDIA_PLAYLIST}`,
    'hls_group_id=audio',
    `hls_name=${r.id}`,
  ].join(',');
  await shaka(
    [
      descriptor,
      '--segment_duration', String(segmentDurationS), '--quiet',
      ...SHAKA_IO,
      '--hls_master_playlist_output', shakaMaster(r),
      ...(fmp4 ? ['--mpd_output', shakaMpd(r), '--generate_static_live_mpd'] : []),
    ],
    outDir,
    opts,
  );
}

/**
 * One static MPD from the one-Representation MPDs of packageRendition, laid out as a single shaka run lays
 * out several: one Period, one AdaptationSet per codec (in order of first appearance; its attributes as
 * shaka wrote them for that codec), Representations numbered from 0, the longest presentation duration.
 */
export function mergeDashManifests(mpds: readonly { codec: string; text: string }[]): string {
  const isoSeconds = (d: string) => {
    const m = /^PT(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?$/.exec(d);
    return m ? Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0) : NaN;
  };
  const groups = new Map<string, { set: string; reps: string[] }>();
  let head = '';
  let duration = '';
  for (const { codec, text } of mpds) {
    if (!/<MPD [^>]*type="static"/.test(text)) throw new AppError('internal_error', 'The DASH manifest is not static.');
    const sets = text.match(/<AdaptationSet [^>]*>/g) ?? [];
    const reps = text.match(/<Representation [\s\S]*?<\/Representation>/g) ?? [];
    const periodAt = text.indexOf('<Period');
    if (sets.length !== 1 || reps.length !== 1 || periodAt < 0) throw new AppError('internal_error', 'A rendition\'s DASH manifest does not hold exactly one Representation.');
    const d = /mediaPresentationDuration="([^"]+)"/.exec(text)?.[1] ?? '';
    if (!head) head = text.slice(0, periodAt);
    if (!duration || isoSeconds(d) > isoSeconds(duration)) duration = d;
    const g = groups.get(codec) ?? { set: sets[0], reps: [] };
    g.reps.push(reps[0]);
    groups.set(codec, g);
  }
  const lines = [head.replace(/mediaPresentationDuration="[^"]*"/, `mediaPresentationDuration="${duration}"`).trimEnd(), '  <Period id="0">'];
  let setId = 0;
  let repId = 0;
  for (const g of groups.values()) {
    lines.push(`    ${g.set.replace(/ id="[^"]*"/, ` id="${setId++}"`)}`);
    for (const rep of g.reps) lines.push(`      ${rep.replace(/ id="[^"]*"/, ` id="${repId++}"`)}`);
    lines.push('    </AdaptationSet>');
  }
  lines.push('  </Period>', '</MPD>');
  return lines.join('\n') + '\n';
}

/** After every packageRendition: the merged master and MPD, the renditions' measured figures, the publish order. */
export async function finishPackage(renditions: readonly EncodedRendition[], outDir: string, opts: MediaOptions = {}): Promise<PackageResult> {
  const entries = new Map<string, MasterEntry>();
  const mpds: { codec: string; text: string }[] = [];
  for (const r of renditions) {
    for (const [k, v] of parseShakaMaster(await readFile(path.join(outDir, shakaMaster(r)), 'utf8'))) entries.set(k, v);
    if (r.container === 'fmp4') mpds.push({ codec: r.codec, text: await readFile(path.join(outDir, shakaMpd(r)), 'utf8') });
  }
  await Promise.all(renditions.flatMap((r) => [rm(path.join(outDir, shakaMaster(r)), { force: true }), rm(path.join(outDir, shakaMpd(r)), { force: true })]));

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
  // The MPD carries only fMP4 renditions; shaka's codec strings there (mp4a.40.2, opus, flac) are already right for DASH.
  await writeFile(path.join(outDir, DASH_MANIFEST), mergeDashManifests(mpds));

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

/** Package encoded files (all present on disk): one shaka run per rendition, in parallel, then the merged manifests. */
export async function packageRenditions(renditions: readonly EncodedRendition[], outDir: string, opts: PackageOptions = {}): Promise<PackageResult> {
  const seg = checkPackageInput(renditions, opts);
  await mkdir(outDir, { recursive: true });
  opts.onProgress?.({ stage: 'package', percent: 0 });
  // One failed run stops the others; the caller's abort stops all.
  const runs = new AbortController();
  const onOuterAbort = () => runs.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
  if (opts.signal?.aborted) runs.abort(opts.signal.reason);
  // A stuck shaka (it has hung in a futex wait with some flags) must fail the job, which the bus retries, not hold it forever.
  const watchdog = setTimeout(() => runs.abort(new AppError('internal_error', `Packaging stalled: shaka-packager ran for over ${SHAKA_FILE_TIMEOUT_MS / 60_000} minutes.`)), SHAKA_FILE_TIMEOUT_MS);
  try {
    const results = await Promise.allSettled(
      renditions.map((r) => packageRendition(r, outDir, seg, { ...opts, signal: runs.signal }).catch((e: unknown) => {
        runs.abort(e);
        throw e;
      })),
    );
    const failed = results.find((x): x is PromiseRejectedResult => x.status === 'rejected');
    if (failed) throw opts.signal?.aborted ? opts.signal.reason : runs.signal.reason ?? failed.reason;
  } finally {
    clearTimeout(watchdog);
    opts.signal?.removeEventListener('abort', onOuterAbort);
  }
  opts.onProgress?.({ stage: 'package', percent: 80 });
  return finishPackage(renditions, outDir, opts);
}
