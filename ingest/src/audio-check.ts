/**
 * Upload validation by content, not by name: delegates to @platform/media's probeAudio (ffprobe +
 * magic bytes + a full decode), which throws AppError with the CONTRACT codes empty_file,
 * unsupported_format, corrupt_audio, duration_out_of_range. This wrapper adds the file name to the
 * message (a bulk upload needs to say which file) and the byte size.
 */
import { stat } from 'node:fs/promises';
import { AppError, isAppError } from '@platform/errors';
import { probeAudio, MIN_DURATION_MS, MAX_DURATION_MS } from '@platform/media';

export { MIN_DURATION_MS, MAX_DURATION_MS };

export interface CheckedAudio {
  format: 'wav' | 'flac';
  codec: string;
  sampleRate: number;
  channels: number;
  bitDepth: number | null;
  durationMs: number;
  /** More than two channels: the packager folds it down to stereo. */
  downmix: boolean;
  sizeBytes: number;
}

export async function checkAudio(file: string, displayName?: string): Promise<CheckedAudio> {
  const { size } = await stat(file);
  try {
    const p = await probeAudio(file);
    return { format: p.format, codec: p.codec, sampleRate: p.sampleRate, channels: p.channels, bitDepth: p.bitsPerSample, durationMs: p.durationMs, downmix: p.downmix, sizeBytes: size };
  } catch (e) {
    if (isAppError(e) && displayName) {
      throw new AppError(e.code, `${displayName}: ${e.detail}`, { extra: e.extra, cause: e });
    }
    throw e;
  }
}
