/**
 * The rendition ladder: decode once, asplit, encode every rendition (and run the loudness and
 * waveform analysis) in the same ffmpeg run. With a thread budget above 1 the ladder is split into
 * that many ffmpeg runs of similar cost (each still decodes once), because ffmpeg's filter graph and
 * these encoders are single-threaded: one process uses one core.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import ffmpeg from 'fluent-ffmpeg';
import { AppError } from '@platform/errors';
import { DEFAULT_PEAK_BUCKETS, loudnessFilter, parseLoudness, peaksFilter, readPeaksFile } from './analysis';
import { tail, toolPath } from './process';
import type { AudioProbe, EncodedRendition, LoudnessResult, MediaOptions, RenditionSpec } from './types';

/** The full ladder; FLAC only when the source is lossless (always, for accepted inputs). */
export const DEFAULT_LADDER: readonly RenditionSpec[] = [
  { id: 'aac_64', codec: 'aac', bitrateKbps: 64 },
  { id: 'aac_128', codec: 'aac', bitrateKbps: 128 },
  { id: 'aac_256', codec: 'aac', bitrateKbps: 256 },
  { id: 'opus_64', codec: 'opus', bitrateKbps: 64 },
  { id: 'opus_96', codec: 'opus', bitrateKbps: 96 },
  { id: 'opus_160', codec: 'opus', bitrateKbps: 160 },
  { id: 'mp3_128', codec: 'mp3', bitrateKbps: 128 },
  { id: 'mp3_320', codec: 'mp3', bitrateKbps: 320 },
  { id: 'flac', codec: 'flac', bitrateKbps: null },
];

export function ladderFor(probe: Pick<AudioProbe, 'isLossless'>): RenditionSpec[] {
  return DEFAULT_LADDER.filter((r) => r.codec !== 'flac' || probe.isLossless);
}

/**
 * CPU seconds per 5 minutes of 44.1 kHz stereo, measured with Debian's ffmpeg 5.1 on this class of
 * machine, one branch alone in its own ffmpeg (so each figure carries a decode and the per-output
 * overhead; the Opus ones minus their resampler): AAC 64k 2.55 s, 128k 4.25 s, 256k 5.0 s; Opus
 * 2.0-2.5 s; MP3 1.85-2.2 s; FLAC 0.45 s; ebur128 with true peak 1.1 s; peaks 0.2 s. Used only to
 * balance the split: with these, the split chosen measured within 0.2 s between its two processes
 * (the older per-encoder figures without the decode left 0.5 s between them).
 * The resampler in front of an encoder is a separate cost (preCost), paid once per process for all
 * branches sharing it.
 */
function branchCost(b: { kind: 'rendition' | 'loudness' | 'peaks'; spec?: RenditionSpec }): number {
  if (b.kind === 'loudness') return 1.1;
  if (b.kind === 'peaks') return 0.2;
  const k = b.spec?.bitrateKbps ?? 0;
  switch (b.spec?.codec) {
    case 'aac': return k <= 128 ? 0.85 + 0.0266 * k : 3.5 + 0.00586 * k;
    case 'opus': return 1.7 + 0.0051 * k;
    case 'mp3': return 1.63 + 0.0018 * k;
    default: return 0.45;
  }
}

/** A soxr resampling to another rate (44.1 -> 48 kHz: 0.25 s per 5 min); same rate or a format change only: ~0.02 s. */
function preCost(sourceRate: number, filter: string): number {
  const m = /^aresample=(\d+)/.exec(filter);
  return m && Number(m[1]) !== sourceRate ? 0.25 : 0.02;
}

/** Encoders and muxers the ladder uses. */
const NEEDED = { encoders: ['aac', 'libopus', 'libmp3lame', 'flac'], formats: ['mp4', 'mpegts', 'null'] };

/**
 * Checks that ffmpeg runs and has every encoder and muxer of the ladder; throws an Error naming what is
 * missing. Call it once when a worker starts: a missing libopus is then a start-up error, not a failed job.
 * It also fills fluent-ffmpeg's capability cache (it asks `ffmpeg -formats` and `-encoders` once per
 * process, before the first transcode otherwise: two spawns in front of the first job's encoders).
 */
export async function checkFfmpeg(tools?: MediaOptions['tools']): Promise<void> {
  const cmd = ffmpeg().setFfmpegPath(toolPath(tools, 'ffmpeg'));
  const ask = <T>(fn: (cb: (err: Error | null, data: T) => void) => void) => new Promise<T>((resolve, reject) => fn((err, data) => (err ? reject(err) : resolve(data))));
  const formats = await ask<Record<string, { canMux?: boolean }>>((cb) => cmd.availableFormats(cb));
  const encoders = await ask<Record<string, unknown>>((cb) => cmd.availableEncoders(cb));
  const missing = [...NEEDED.encoders.filter((e) => !(e in encoders)), ...NEEDED.formats.filter((f) => !formats[f]?.canMux).map((f) => `${f} muxer`)];
  if (missing.length) throw new Error(`ffmpeg (${toolPath(tools, 'ffmpeg')}) lacks ${missing.join(', ')}: install Debian's ffmpeg (see FIELD-NOTES).`);
}

/** AAC and MP3 stay at 44.1 or 48 kHz (the family of the source); Opus is always 48 kHz. */
function lossyRate(src: number): number {
  return src % 11025 === 0 ? 44100 : 48000;
}

interface Branch {
  kind: 'rendition' | 'loudness' | 'peaks';
  spec?: RenditionSpec;
  cost: number;
  /**
   * Filter in front of the branch, shared by every branch of the same process with the same text (one
   * resampler for the three Opus encoders, one for AAC and MP3); '' for none.
   */
  pre: string;
  preCost: number;
  /** Filter of this branch alone, after `pre` (the analysis filters); '' for an encoder fed by `pre`. */
  own: string;
}

export interface TranscodeOptions extends MediaOptions {
  probe: AudioProbe;
  /** Default: ladderFor(probe). */
  renditions?: readonly RenditionSpec[];
  /** Run loudness and waveform analysis inside the same decode (default true). */
  analyze?: boolean;
  peakBuckets?: number;
  /**
   * Write every MP4 fragmented (moov first, with the edit list that trims encoder priming, then 1 s
   * fragments), so an output may be a FIFO that a packager reads while encoding (transcodeAndPackage).
   */
  fragmented?: boolean;
}

export interface TranscodeResult {
  renditions: EncodedRendition[];
  loudness?: LoudnessResult;
  peaks?: number[];
}

/** What transcodeLadder will write for each spec (file paths under outDir), before it runs. */
export function plannedRenditions(specs: readonly RenditionSpec[], probe: AudioProbe, outDir: string): EncodedRendition[] {
  return specs.map((spec) => {
    const out = renditionOutput(spec, probe, outDir);
    return { id: out.id, codec: out.codec, bitrateKbps: out.bitrateKbps, file: out.file, container: out.container, sampleRate: out.sampleRate, channels: out.channels };
  });
}

/**
 * Fragmented MP4 that keeps the edit list: ffmpeg 5.1 writes elst (the AAC/Opus priming trim) in a
 * fragmented file only with delay_moov (moov written once the first fragment is known); empty_moov
 * drops it, and the packaged renditions would then play the priming (+23 ms for AAC).
 */
const FRAGMENTED_MP4 = ['-movflags', '+default_base_moof+frag_keyframe+delay_moov', '-frag_duration', '1000000'];

function renditionOutput(spec: RenditionSpec, probe: AudioProbe, outDir: string) {
  const channels = Math.min(2, probe.channels);
  const base = { ...spec, channels };
  switch (spec.codec) {
    case 'aac': {
      const sampleRate = lossyRate(probe.sampleRate);
      return {
        ...base, sampleRate, container: 'fmp4' as const, file: path.join(outDir, `${spec.id}.mp4`),
        filter: `aresample=${sampleRate}:resampler=soxr`,
        options: ['-c:a', 'aac', '-b:a', `${spec.bitrateKbps}k`, '-f', 'mp4'],
      };
    }
    case 'opus':
      return {
        ...base, sampleRate: 48000, container: 'fmp4' as const, file: path.join(outDir, `${spec.id}.mp4`),
        filter: 'aresample=48000:resampler=soxr',
        options: ['-c:a', 'libopus', '-b:a', `${spec.bitrateKbps}k`, '-vbr', 'on', '-application', 'audio', '-f', 'mp4'],
      };
    case 'mp3': {
      const sampleRate = lossyRate(probe.sampleRate);
      return {
        // shaka-packager reads MP3 only from MPEG-TS.
        ...base, sampleRate, container: 'ts' as const, file: path.join(outDir, `${spec.id}.ts`),
        filter: `aresample=${sampleRate}:resampler=soxr`,
        options: ['-c:a', 'libmp3lame', '-b:a', `${spec.bitrateKbps}k`, '-f', 'mpegts'],
      };
    }
    case 'flac': {
      // Lossless at the source rate; 24-bit covers every accepted source except 16-bit (kept at 16).
      const wide = probe.bitsPerSample > 16;
      return {
        ...base, sampleRate: probe.sampleRate, container: 'fmp4' as const, file: path.join(outDir, `${spec.id}.mp4`),
        filter: `aformat=sample_fmts=${wide ? 's32' : 's16'}`,
        options: ['-c:a', 'flac', ...(wide ? ['-bits_per_raw_sample', '24'] : []), '-compression_level', '5', '-strict', 'experimental', '-f', 'mp4'],
      };
    }
  }
}

/** Estimated CPU of one process running these branches: each shared filter is paid once. */
function groupCost(items: readonly Branch[]): number {
  const pres = new Map<string, number>();
  for (const b of items) if (b.pre) pres.set(b.pre, b.preCost);
  return items.reduce((s, b) => s + b.cost, 0) + [...pres.values()].reduce((s, c) => s + c, 0);
}

/**
 * Split branches into `n` processes with the least estimated cost of the busiest one (the track is done
 * when the last process is). Exhaustive when the choices are few (two processes: 2^10 for the full ladder
 * plus analysis), otherwise greedy longest-first.
 */
function splitBranches<B extends Branch>(branches: readonly B[], n: number): B[][] {
  const k = Math.max(1, Math.min(n, branches.length));
  if (k === 1) return [[...branches]];
  if (k ** (branches.length - 1) <= 200_000) {
    // Branch 0 goes to process 0 (the processes are interchangeable); every other branch tries every process.
    const assign = new Array<number>(branches.length).fill(0);
    let best = { cost: Infinity, assign: [...assign] };
    const walk = (i: number) => {
      if (i === branches.length) {
        const groups = Array.from({ length: k }, (_, g) => branches.filter((_, j) => assign[j] === g));
        if (groups.some((g) => g.length === 0)) return;
        const cost = Math.max(...groups.map(groupCost));
        if (cost < best.cost - 1e-9) best = { cost, assign: [...assign] };
        return;
      }
      for (let g = 0; g < k; g++) {
        assign[i] = g;
        walk(i + 1);
      }
    };
    walk(1);
    return Array.from({ length: k }, (_, g) => branches.filter((_, j) => best.assign[j] === g));
  }
  const groups: B[][] = Array.from({ length: k }, () => []);
  for (const b of [...branches].sort((a, b2) => b2.cost + b2.preCost - (a.cost + a.preCost))) {
    groups.reduce((min, g) => (groupCost([...g, b]) < groupCost([...min, b]) ? g : min)).push(b);
  }
  return groups.filter((g) => g.length > 0);
}

/**
 * One process's filter graph: the decoded input split once per distinct shared filter (each then split
 * among its branches) and once per branch with a filter of its own. Returns the chains and each branch's
 * output label. E.g. three Opus branches: `[t0]aresample=48000:resampler=soxr,asplit=3[b0][b1][b2]`.
 */
function branchGraph(group: readonly Branch[], head: string): { chains: string[]; labels: string[] } {
  const labels = group.map((_, i) => `[b${i}]`);
  const taps: { filter: string; outs: string[] }[] = [];
  const shared = new Map<string, { filter: string; outs: string[] }>();
  group.forEach((b, i) => {
    const tap = b.own ? undefined : shared.get(b.pre);
    if (tap) return void tap.outs.push(labels[i]);
    const t = { filter: [b.pre, b.own].filter(Boolean).join(',') || 'anull', outs: [labels[i]] };
    if (!b.own) shared.set(b.pre, t);
    taps.push(t);
  });
  const tapLabels = taps.map((_, j) => `[t${j}]`);
  const fanOut = (outs: string[]) => (outs.length === 1 ? outs[0] : `,asplit=${outs.length}${outs.join('')}`);
  return { chains: [`${head}${fanOut(tapLabels)}`, ...taps.map((t, j) => `${tapLabels[j]}${t.filter}${fanOut(t.outs)}`)], labels };
}

const timemarkToMs = (t: string): number => {
  const m = /^(\d+):(\d+):(\d+(?:\.\d+)?)$/.exec(t.trim());
  return m ? (Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3])) * 1000 : 0;
};

export async function transcodeLadder(input: string, outDir: string, opts: TranscodeOptions): Promise<TranscodeResult> {
  const { probe } = opts;
  const specs = opts.renditions ?? ladderFor(probe);
  const analyze = opts.analyze ?? true;
  await mkdir(outDir, { recursive: true });
  const scratch = path.join(opts.tmpDir ?? os.tmpdir(), `ladder-${randomUUID()}`);
  await mkdir(scratch, { recursive: true });
  const peaksFile = path.join(scratch, 'peaks.txt');

  const branches: Branch[] = specs.map((spec) => {
    const pre = renditionOutput(spec, probe, outDir).filter;
    return { kind: 'rendition', spec, cost: branchCost({ kind: 'rendition', spec }), pre, preCost: preCost(probe.sampleRate, pre), own: '' };
  });
  if (analyze) {
    branches.push(
      { kind: 'loudness', cost: branchCost({ kind: 'loudness' }), pre: '', preCost: 0, own: loudnessFilter() },
      { kind: 'peaks', cost: branchCost({ kind: 'peaks' }), pre: '', preCost: 0, own: peaksFilter(probe.totalSamples, opts.peakBuckets ?? DEFAULT_PEAK_BUCKETS, peaksFile) },
    );
  }
  const groups = splitBranches(branches, opts.threads ?? 1);
  const progress = new Array<number>(groups.length).fill(0);
  const report = () => opts.onProgress?.({ stage: 'transcode', percent: Math.min(100, Math.round(progress.reduce((a, b) => a + b, 0) / groups.length)) });

  const encoded: EncodedRendition[] = [];
  let loudness: LoudnessResult | undefined;
  // One failed run stops its siblings (their output is useless without it); the caller's abort stops all.
  const siblings = new AbortController();
  const onOuterAbort = () => siblings.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
  // Aborted before we got here (a packager reading our FIFOs already failed): spawn nothing.
  if (opts.signal?.aborted) siblings.abort(opts.signal.reason);
  const signal = siblings.signal;
  try {
    await Promise.all(
      groups.map(async (group, gi) => {
        const head = probe.downmix ? '[0:a:0]aformat=channel_layouts=stereo' : '[0:a:0]anull';
        const { chains, labels } = branchGraph(group, head);
        const cmd = ffmpeg({ stdoutLines: 300 })
          .setFfmpegPath(toolPath(opts.tools, 'ffmpeg'))
          .input(input)
          // -xerror: stop at the first decode error instead of encoding past it (a glitch in every rendition). A
          // source probed from its headers only (probe.decoded false) relies on this run as its decode check.
          .inputOptions(['-nostdin', '-hide_banner', '-xerror']);
        group.forEach((b, i) => {
          if (b.kind === 'rendition' && b.spec) {
            const out = renditionOutput(b.spec, probe, outDir);
            const frag = opts.fragmented && out.container === 'fmp4' ? FRAGMENTED_MP4 : [];
            cmd.output(out.file).outputOptions(['-map', labels[i], '-map_metadata', '-1', ...out.options, ...frag]);
            encoded.push({ id: out.id, codec: out.codec, bitrateKbps: out.bitrateKbps, file: out.file, container: out.container, sampleRate: out.sampleRate, channels: out.channels });
          } else {
            cmd.output('/dev/null').outputOptions(['-map', labels[i], '-f', 'null']);
          }
        });
        cmd.complexFilter(chains.join(';'));
        const hasLoudness = group.some((b) => b.kind === 'loudness');
        // ebur128 prints its summary on stderr at info level: collect the lines from there on.
        const summary: string[] = [];
        let inSummary = false;
        // Progress from ffmpeg's own stats lines ("size=... time=00:01:02.50 ..."), not fluent-ffmpeg's 'progress'
        // event: listening to that makes fluent-ffmpeg run an ffprobe of the input per process, for a percent we
        // compute from the probe anyway.
        cmd.on('stderr', (line: string) => {
          if (line.includes('Summary:')) {
            inSummary = true;
            summary.length = 0;
          }
          if (inSummary) summary.push(line);
          const time = /(?:^|\s)time=(\d+:\d+:\d+(?:\.\d+)?)/.exec(line);
          if (time) {
            progress[gi] = Math.min(100, (timemarkToMs(time[1]) / Math.max(1, probe.durationMs)) * 100);
            report();
          }
        });
        cmd.on('start', (line: string) => opts.logger?.debug({ cmd: line }, 'ffmpeg start'));
        await new Promise<void>((resolve, reject) => {
          if (signal.aborted) return reject(signal.reason);
          const onAbort = () => cmd.kill('SIGKILL');
          signal.addEventListener('abort', onAbort, { once: true });
          cmd.on('end', () => {
            signal.removeEventListener('abort', onAbort);
            resolve();
          });
          cmd.on('error', (err: Error, _out: string | null, stderr: string | null) => {
            signal.removeEventListener('abort', onAbort);
            if (opts.signal?.aborted) return reject(opts.signal.reason);
            const failure = signal.aborted ? signal.reason : new AppError('internal_error', `Transcoding failed: ${tail(stderr ?? err.message, 3)}`, { cause: err });
            siblings.abort(failure);
            reject(failure);
          });
          cmd.run();
        });
        progress[gi] = 100;
        report();
        if (hasLoudness) loudness = parseLoudness(summary.join('\n'));
      }),
    );
    const peaks = analyze ? await readPeaksFile(peaksFile) : undefined;
    const order = new Map(specs.map((s, i) => [s.id, i]));
    encoded.sort((a, b) => (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0));
    if (analyze && !loudness) throw new AppError('internal_error', 'Loudness analysis produced no result.');
    return { renditions: encoded, loudness, peaks };
  } finally {
    opts.signal?.removeEventListener('abort', onOuterAbort);
    await rm(scratch, { recursive: true, force: true });
  }
}
