/**
 * Loudness (EBU R128 integrated + true peak, ffmpeg's ebur128 filter) and waveform peaks.
 * Each is a filter-graph branch so transcodeLadder can run them inside its single decode; the
 * standalone functions run the same branch alone.
 */
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import os from 'node:os';
import { randomUUID } from 'node:crypto';
import { AppError } from '@platform/errors';
import { run, tail, toolPath } from './process';
import type { LoudnessResult, MediaOptions } from './types';

/** Spotify's default normalisation level. */
export const TARGET_LUFS = -14;
/** Never let the gain push the true peak above this (dBTP). */
export const PEAK_CEILING_DB = -1;
export const DEFAULT_PEAK_BUCKETS = 800;
const SILENCE_DB = -120;

/**
 * Filter chain measuring loudness; its summary goes to ffmpeg's stderr at info level. framelog=verbose keeps
 * the per-100-ms frame lines out of that stderr: 3,000 lines for 5 minutes, which cost the Node process
 * parsing them (fluent-ffmpeg) ~1.2 s of CPU, more than the filter itself.
 */
export const loudnessFilter = (): string => 'ebur128=peak=true:framelog=verbose';

/**
 * Filter chain writing one peak level (dBFS) per bucket to `file`: frames of exactly one bucket's
 * samples, astats reset on every frame. `file` must not contain ':' or '\'' (temp paths we create).
 */
export function peaksFilter(totalSamples: number, buckets: number, file: string): string {
  const n = Math.max(1, Math.ceil(totalSamples / buckets));
  return `asetnsamples=n=${n}:p=0,astats=metadata=1:reset=1:measure_perchannel=none:measure_overall=Peak_level,ametadata=mode=print:key=lavfi.astats.Overall.Peak_level:file=${file}`;
}

const num = (v: string | undefined): number => {
  if (v === undefined) return NaN;
  if (/-?inf/i.test(v)) return v.startsWith('-') ? -Infinity : Infinity;
  return Number(v);
};

/** Gain towards the target, limited by the peak ceiling and kept within +-24 dB (silence, test tones). */
export function trackGain(integratedLufs: number, truePeakDb: number): number {
  let gain = TARGET_LUFS - integratedLufs;
  if (Number.isFinite(truePeakDb)) gain = Math.min(gain, PEAK_CEILING_DB - truePeakDb);
  return Math.round(Math.max(-24, Math.min(24, gain)) * 100) / 100;
}

/** Parse the last ebur128 summary in ffmpeg's stderr. */
export function parseLoudness(stderr: string): LoudnessResult {
  const at = stderr.lastIndexOf('Summary:');
  if (at < 0) throw new AppError('internal_error', 'Loudness analysis produced no summary.');
  const s = stderr.slice(at);
  const i = num(/I:\s+(\S+) LUFS/.exec(s)?.[1]);
  const lra = num(/LRA:\s+(\S+) LU/.exec(s)?.[1]);
  const peak = num(/True peak:\s+Peak:\s+(\S+) dBFS/.exec(s)?.[1]);
  if (Number.isNaN(i) || Number.isNaN(peak)) throw new AppError('internal_error', 'Loudness summary could not be parsed.');
  const truePeakDb = Number.isFinite(peak) ? Math.round(peak * 10) / 10 : SILENCE_DB;
  return { integratedLufs: i, truePeakDb, lra: Number.isFinite(lra) ? lra : 0, gainDb: trackGain(i, Number.isFinite(peak) ? peak : -Infinity) };
}

/** Parse the astats metadata file into linear peaks 0..1 (3 decimals), one per bucket. */
export async function readPeaksFile(file: string): Promise<number[]> {
  const text = await readFile(file, 'utf8');
  const out: number[] = [];
  for (const m of text.matchAll(/Peak_level=(\S+)/g)) {
    const db = num(m[1]);
    out.push(Number.isFinite(db) ? Math.min(1, Math.round(10 ** (db / 20) * 1000) / 1000) : 0);
  }
  return out;
}

/** Shown to the musician; ffmpeg's own text goes to the log only. */
const UNDECODABLE = 'The audio could not be analysed because part of it does not decode (the file is probably damaged). Export it again from your audio editor as WAV or FLAC and re-upload.';

export async function analyzeLoudness(file: string, opts: MediaOptions = {}): Promise<LoudnessResult> {
  const res = await run(
    toolPath(opts.tools, 'ffmpeg'),
    ['-nostdin', '-hide_banner', '-nostats', '-v', 'info', '-i', file, '-map', '0:a:0', '-af', loudnessFilter(), '-f', 'null', '-'],
    { signal: opts.signal },
  );
  if (res.code !== 0) {
    opts.logger?.warn({ file, ffmpeg: tail(res.stderr, 4) }, 'loudness analysis failed');
    throw new AppError('corrupt_audio', UNDECODABLE);
  }
  return parseLoudness(res.stderr);
}

/** Peak amplitude per bucket (0..1), all channels together; totalSamples from probeAudio. */
export async function waveformPeaks(
  file: string,
  opts: MediaOptions & { buckets?: number; totalSamples: number },
): Promise<number[]> {
  const peaksFile = path.join(opts.tmpDir ?? os.tmpdir(), `peaks-${randomUUID()}.txt`);
  try {
    const res = await run(
      toolPath(opts.tools, 'ffmpeg'),
      ['-nostdin', '-hide_banner', '-nostats', '-v', 'error', '-i', file, '-map', '0:a:0', '-af', peaksFilter(opts.totalSamples, opts.buckets ?? DEFAULT_PEAK_BUCKETS, peaksFile), '-f', 'null', '-'],
      { signal: opts.signal },
    );
    if (res.code !== 0) {
      opts.logger?.warn({ file, ffmpeg: tail(res.stderr, 4) }, 'waveform analysis failed');
      throw new AppError('corrupt_audio', UNDECODABLE);
    }
    return await readPeaksFile(peaksFile);
  } finally {
    await rm(peaksFile, { force: true });
  }
}
