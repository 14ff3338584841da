/**
 * Options shared by every media function. The library knows nothing about HTTP, queues or the
 * catalog: callers hand in a logger, a temp dir, a thread budget and a progress callback.
 */

/** The subset of a pino logger the media functions use (any pino logger fits). */
export interface MediaLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface MediaProgress {
  /** What is running, e.g. "transcode", "package". */
  stage: string;
  /** 0-100 within that stage. */
  percent: number;
}

import type { ToolPaths } from './process';

export interface MediaOptions {
  /** Override binary locations (tests, machines without Debian's ffmpeg). */
  tools?: ToolPaths;
  logger?: MediaLogger;
  /** Scratch space for intermediate files; defaults to os.tmpdir(). */
  tmpDir?: string;
  /** CPU budget: how many ffmpeg processes a transcode may run at once (default 1). */
  threads?: number;
  onProgress?: (p: MediaProgress) => void;
  /** Aborting kills the child processes and rejects with the signal's reason. */
  signal?: AbortSignal;
}

export type SampleFormat = 's16' | 's24' | 's32' | 'f32';

export interface AudioProbe {
  /** Container, detected from the content. */
  format: 'wav' | 'flac';
  /** ffmpeg codec name: pcm_s16le, pcm_s24le, pcm_s32le, pcm_f32le or flac. */
  codec: string;
  sampleRate: number;
  channels: number;
  /** ffmpeg channel layout name when known (e.g. "5.1"). */
  channelLayout?: string;
  bitsPerSample: number;
  sampleFormat: SampleFormat;
  /** Duration of the audio that actually decodes (not what the header claims). */
  durationMs: number;
  /** Decoded sample frames per channel. */
  totalSamples: number;
  /** Always true for the accepted inputs (PCM WAV, FLAC). */
  isLossless: boolean;
  /** More than two channels: renditions are downmixed to stereo. */
  downmix: boolean;
  /**
   * The whole audio was decoded without an error (probeAudio's default). false: headers only
   * (`probeAudio(file, { decode: false })`); durationMs and totalSamples are then the header's.
   */
  decoded: boolean;
}

export type RenditionCodec = 'aac' | 'opus' | 'mp3' | 'flac';

export interface RenditionSpec {
  /** Directory name and HLS NAME, e.g. "aac_128". */
  id: string;
  codec: RenditionCodec;
  /** null for lossless. */
  bitrateKbps: number | null;
}

export interface EncodedRendition extends RenditionSpec {
  /** Intermediate file the packager reads: .mp4 for AAC/Opus/FLAC, MPEG-TS for MP3. */
  file: string;
  /** How the packaged segments are delivered. */
  container: 'fmp4' | 'ts';
  sampleRate: number;
  channels: number;
}

export interface LoudnessResult {
  integratedLufs: number;
  /** dBTP; -120 stands for digital silence (JSON has no -Infinity). */
  truePeakDb: number;
  /** Loudness range, LU. */
  lra: number;
  /** Gain towards the target, limited so the true peak stays at or below -1 dBTP. */
  gainDb: number;
}
