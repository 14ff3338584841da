/**
 * Upload validation by content, not by name: what the file really is (ffprobe), whether it is whole
 * (header length vs. what decodes), and whether its duration fits. Stable error codes from CONTRACT:
 * empty_file, unsupported_format, corrupt_audio, duration_out_of_range.
 *
 * This is the ingest-side gate run before anything is stored. It is deliberately self-contained
 * (ffprobe/ffmpeg only) so the upload path never depends on the packager's heavier analysis.
 */
import { spawn } from 'node:child_process';
import { open, stat } from 'node:fs/promises';
import { AppError } from '@platform/errors';

export const MIN_DURATION_MS = 1_000;
export const MAX_DURATION_MS = 2 * 3600_000;

const PCM_CODECS = new Set(['pcm_s16le', 'pcm_s24le', 'pcm_s32le', 'pcm_f32le']);

export interface CheckedAudio {
  format: 'wav' | 'flac';
  codec: string;
  sampleRate: number;
  channels: number;
  /** Bits per sample as stored (16/24/32). */
  bitDepth: number | null;
  durationMs: number;
  /** More than two channels: the packager folds it down to stereo. */
  downmix: boolean;
  sizeBytes: number;
}

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      // Keep only the tail: a damaged file can make ffmpeg print one line per packet.
      stderr = (stderr + d).slice(-8192);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

interface FfprobeOut {
  streams?: Array<{ codec_type?: string; codec_name?: string; sample_rate?: string; channels?: number; bits_per_raw_sample?: string; bits_per_sample?: number; duration?: string }>;
  format?: { format_name?: string; duration?: string };
}

/**
 * For WAV the header states how many bytes of audio follow; ffprobe silently estimates from the file
 * size instead, so a truncated WAV would pass. Returns the declared data size, or null when the
 * writer left it unknown (streamed WAVs write 0 or 0xFFFFFFFF) or the layout is not plain RIFF.
 */
async function wavDeclaredDataBytes(file: string): Promise<{ declared: number; available: number } | null> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    const head = Buffer.alloc(12);
    await fh.read(head, 0, 12, 0);
    if (head.toString('ascii', 0, 4) !== 'RIFF' || head.toString('ascii', 8, 12) !== 'WAVE') return null;
    let pos = 12;
    const chunk = Buffer.alloc(8);
    // Walk the chunk list up to the data chunk (LIST/INFO, fact, bext... may come first).
    for (let i = 0; i < 64 && pos + 8 <= size; i++) {
      await fh.read(chunk, 0, 8, pos);
      const id = chunk.toString('ascii', 0, 4);
      const len = chunk.readUInt32LE(4);
      if (id === 'data') {
        if (len === 0 || len === 0xffffffff) return null;
        return { declared: len, available: size - (pos + 8) };
      }
      pos += 8 + len + (len % 2);
    }
    return null;
  } finally {
    await fh.close();
  }
}

/** Decode the whole stream (cheap next to transcoding) and report how far it got and whether it complained. */
async function decodeCheck(file: string): Promise<{ decodedMs: number; errors: string }> {
  const r = await run('ffmpeg', ['-nostdin', '-v', 'error', '-i', file, '-map', '0:a:0', '-f', 'null', '-', '-progress', 'pipe:1', '-nostats'], 10 * 60_000);
  const times = [...r.stdout.matchAll(/out_time_us=(\d+)/g)].map((m) => Number(m[1]));
  const decodedMs = times.length ? Math.round(times[times.length - 1] / 1000) : 0;
  return { decodedMs, errors: r.code === 0 ? r.stderr.trim() : r.stderr.trim() || `ffmpeg exited with ${r.code}` };
}

export async function checkAudio(file: string, originalName = 'the file'): Promise<CheckedAudio> {
  const { size } = await stat(file);
  if (size === 0) throw new AppError('empty_file', `${originalName} is empty (0 bytes). Choose the WAV or FLAC file again.`);

  const probe = await run('ffprobe', ['-v', 'error', '-show_entries', 'format=format_name,duration:stream=codec_type,codec_name,sample_rate,channels,bits_per_raw_sample,bits_per_sample,duration', '-of', 'json', file], 60_000);
  let info: FfprobeOut = {};
  try {
    info = JSON.parse(probe.stdout || '{}') as FfprobeOut;
  } catch {
    info = {};
  }
  const formatName = info.format?.format_name ?? '';
  const audio = info.streams?.find((s) => s.codec_type === 'audio');
  if (probe.code !== 0 || !formatName) {
    throw new AppError('unsupported_format', `${originalName} is not an audio file we can read. Upload WAV (PCM) or FLAC.`);
  }
  const format = formatName.split(',').includes('wav') ? 'wav' : formatName.split(',').includes('flac') ? 'flac' : null;
  if (!format || !audio) {
    const what = audio ? `${audio.codec_name ?? formatName} audio` : `a ${formatName.replace(/_pipe$/, '').toUpperCase()} file, not audio`;
    throw new AppError('unsupported_format', `${originalName} is ${what}. Upload the lossless master as WAV (PCM) or FLAC.`, { extra: { detected: formatName } });
  }
  const codec = audio.codec_name ?? '';
  if (format === 'wav' && !PCM_CODECS.has(codec)) {
    throw new AppError('unsupported_format', `${originalName} is a WAV holding ${codec || 'an unknown codec'}; we take PCM 16/24/32-bit integer or 32-bit float. Export it again as plain PCM WAV or FLAC.`, { extra: { detected: codec } });
  }
  if (format === 'flac' && codec !== 'flac') {
    throw new AppError('unsupported_format', `${originalName} does not hold FLAC audio. Upload WAV (PCM) or FLAC.`);
  }
  const sampleRate = Number(audio.sample_rate ?? 0);
  const channels = Number(audio.channels ?? 0);
  if (!(sampleRate >= 8000 && sampleRate <= 192000)) {
    throw new AppError('unsupported_format', `${originalName} has a sample rate of ${sampleRate} Hz; we take 8 to 192 kHz.`);
  }
  if (channels < 1) throw new AppError('corrupt_audio', `${originalName} declares no audio channels; the file looks damaged.`);
  const bitDepth = Number(audio.bits_per_raw_sample ?? 0) || Number(audio.bits_per_sample ?? 0) || null;

  // Declared length: WAV from its data chunk, FLAC from STREAMINFO (ffprobe reads it).
  let declaredMs = Math.round(Number(audio.duration ?? info.format?.duration ?? 0) * 1000);
  if (format === 'wav') {
    const d = await wavDeclaredDataBytes(file);
    const bytesPerSecond = sampleRate * channels * ((bitDepth ?? 16) / 8);
    if (d && bytesPerSecond > 0) {
      if (d.available + 8 < d.declared) {
        throw new AppError('corrupt_audio', `${originalName} is cut short: its header promises ${fmtSeconds((d.declared / bytesPerSecond) * 1000)} of audio but only ${fmtSeconds((d.available / bytesPerSecond) * 1000)} arrived. Upload the complete file again.`);
      }
      declaredMs = Math.round((d.declared / bytesPerSecond) * 1000);
    }
  }
  if (declaredMs > 0) assertDuration(declaredMs, originalName);

  const decoded = await decodeCheck(file);
  if (decoded.errors) {
    throw new AppError('corrupt_audio', `${originalName} is damaged: decoding stopped at ${fmtSeconds(decoded.decodedMs)}${declaredMs ? ` of ${fmtSeconds(declaredMs)}` : ''}. Export or copy it again and re-upload.`);
  }
  if (declaredMs > 0 && decoded.decodedMs + 250 < declaredMs) {
    throw new AppError('corrupt_audio', `${originalName} is cut short: ${fmtSeconds(decoded.decodedMs)} of the declared ${fmtSeconds(declaredMs)} decode. Upload the complete file again.`);
  }
  const durationMs = declaredMs > 0 ? declaredMs : decoded.decodedMs;
  assertDuration(durationMs, originalName);
  return { format, codec, sampleRate, channels, bitDepth, durationMs, downmix: channels > 2, sizeBytes: size };
}

function assertDuration(ms: number, name: string): void {
  if (ms < MIN_DURATION_MS || ms > MAX_DURATION_MS) {
    throw new AppError('duration_out_of_range', `${name} lasts ${fmtSeconds(ms)}; tracks must be between 1 second and 2 hours.`, { extra: { durationMs: ms } });
  }
}

function fmtSeconds(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}
