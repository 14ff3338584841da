/**
 * Validation by content: what the file IS (ffprobe + magic bytes + a full decode), never what it is
 * called. Accepts PCM WAV (s16/s24/s32/f32, WAVE_FORMAT_EXTENSIBLE) and FLAC (16/24-bit), 8-192 kHz,
 * 1 s to 2 h; more than two channels is accepted and flagged for downmix.
 */
import { open, stat } from 'node:fs/promises';
import { AppError } from '@platform/errors';
import { run, tail, toolPath } from './process';
import type { AudioProbe, MediaOptions, SampleFormat } from './types';

export const MIN_DURATION_MS = 1000;
export const MAX_DURATION_MS = 2 * 3600 * 1000;
const MIN_RATE = 8000;
const MAX_RATE = 192000;
const MAX_CHANNELS = 8;
/** A file decoding this much shorter than its header promises is truncated. */
const TRUNCATION_TOLERANCE_MS = 100;

const WAV_CODECS: Record<string, { bits: number; fmt: SampleFormat }> = {
  pcm_s16le: { bits: 16, fmt: 's16' },
  pcm_s24le: { bits: 24, fmt: 's24' },
  pcm_s32le: { bits: 32, fmt: 's32' },
  pcm_f32le: { bits: 32, fmt: 'f32' },
};

interface FfprobeStream {
  codec_type?: string;
  codec_name?: string;
  sample_rate?: string;
  channels?: number;
  channel_layout?: string;
  bits_per_raw_sample?: string;
  bits_per_sample?: number;
  sample_fmt?: string;
  duration?: string;
}
interface FfprobeOut {
  streams?: FfprobeStream[];
  format?: { format_name?: string; duration?: string };
}

type Magic = 'wav' | 'rf64' | 'flac' | 'mp3' | 'png' | 'jpeg' | 'ogg' | 'mp4' | 'unknown';

function sniff(head: Buffer): Magic {
  const ascii = (a: number, b: number) => head.subarray(a, b).toString('latin1');
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WAVE') return 'wav';
  if ((ascii(0, 4) === 'RF64' || ascii(0, 4) === 'BW64') && ascii(8, 12) === 'WAVE') return 'rf64';
  if (ascii(0, 4) === 'fLaC') return 'flac';
  if (ascii(0, 3) === 'ID3' || (head[0] === 0xff && (head[1] & 0xe0) === 0xe0)) return 'mp3';
  if (head.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'png';
  if (head[0] === 0xff && head[1] === 0xd8) return 'jpeg';
  if (ascii(0, 4) === 'OggS') return 'ogg';
  if (ascii(4, 8) === 'ftyp') return 'mp4';
  return 'unknown';
}

const REJECT_HINT: Partial<Record<Magic, string>> = {
  mp3: 'This is an MP3 file, a lossy format. Upload the WAV or FLAC master instead.',
  png: 'This is a PNG image, not audio. Upload a WAV or FLAC file.',
  jpeg: 'This is a JPEG image, not audio. Upload a WAV or FLAC file.',
  ogg: 'This is an Ogg file (lossy). Upload the WAV or FLAC master instead.',
  mp4: 'This is an MP4/M4A file. Upload the WAV or FLAC master instead.',
};

/**
 * Walk the RIFF chunks (reading headers from the file, so a big LIST/JUNK/iXML chunk before the audio
 * is fine): the declared size of the data chunk versus the bytes really present.
 */
async function wavDataChunk(file: string, fileSize: number): Promise<{ offset: number; declared: number } | null> {
  const fh = await open(file, 'r');
  try {
    const hdr = Buffer.alloc(8);
    let pos = 12;
    while (pos + 8 <= fileSize) {
      const { bytesRead } = await fh.read(hdr, 0, 8, pos);
      if (bytesRead < 8) return null;
      const id = hdr.subarray(0, 4).toString('latin1');
      const size = hdr.readUInt32LE(4);
      if (id === 'data') return { offset: pos + 8, declared: size };
      pos += 8 + size + (size & 1);
    }
    return null;
  } finally {
    await fh.close();
  }
}

async function readHead(file: string, bytes: number): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    const { bytesRead } = await fh.read(buf, 0, bytes, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/**
 * Decode the whole first audio stream; returns the decoded duration and any decoder complaints.
 * `-err_detect crccheck` makes ffmpeg verify each FLAC frame's CRC: without it a damaged frame whose
 * header still parses can decode to noise without a word (2 in 40 files with 4000 bytes overwritten
 * mid-stream here; 0 in 40 with the check). PCM WAV has no checksum to verify.
 */
export async function decodeCheck(file: string, opts: MediaOptions = {}): Promise<{ decodedUs: number; errors: string }> {
  let decodedUs = 0;
  const res = await run(
    toolPath(opts.tools, 'ffmpeg'),
    ['-nostdin', '-hide_banner', '-v', 'error', '-err_detect', 'crccheck', '-i', file, '-map', '0:a:0', '-f', 'null', '-', '-progress', 'pipe:1', '-nostats'],
    {
      signal: opts.signal,
      onStdoutLine: (line) => {
        const m = /^out_time_us=(\d+)/.exec(line);
        if (m) decodedUs = Number(m[1]);
      },
    },
  );
  const errors = res.stderr.trim();
  return { decodedUs, errors: res.code === 0 ? errors : errors || `ffmpeg exited with ${res.code ?? res.signal}` };
}

export interface ProbeOptions extends MediaOptions {
  /**
   * Decode the whole audio to check it (default true). false checks the headers only (magic bytes, ffprobe,
   * the WAV data chunk against the file size, the declared duration) and returns `decoded: false`: for a
   * source that was fully checked before (the packager's, validated at upload) whose transcode, a full
   * decode itself, then stands in for the check (transcodeLadder stops on the first decode error).
   * A header without a duration still gets the full decode.
   */
  decode?: boolean;
}

export async function probeAudio(file: string, opts: ProbeOptions = {}): Promise<AudioProbe> {
  const st = await stat(file);
  if (st.size === 0) throw new AppError('empty_file', 'The file is empty (0 bytes). Choose the audio file again and re-upload it.');
  const head = await readHead(file, 1 << 16);
  const magic = sniff(head);
  const log = opts.logger;

  const pr = await run(toolPath(opts.tools, 'ffprobe'), ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', file], {
    signal: opts.signal,
  });
  let info: FfprobeOut = {};
  try {
    info = JSON.parse(pr.stdout || '{}') as FfprobeOut;
  } catch {
    info = {};
  }
  const audio = info.streams?.find((s) => s.codec_type === 'audio');
  const formatName = info.format?.format_name ?? '';
  if (pr.code !== 0 || !audio) {
    if (magic === 'wav' || magic === 'rf64' || magic === 'flac') {
      // ffprobe's own words go to the log only: "Invalid data found when processing input" helps no musician.
      log?.warn({ file, ffprobe: tail(pr.stderr, 4) || 'no audio stream' }, 'probe: damaged audio file');
      throw new AppError('corrupt_audio', `The ${magic === 'flac' ? 'FLAC' : 'WAV'} file is damaged and cannot be read (it was probably cut short or corrupted while copying). Export it again from your audio editor and re-upload.`);
    }
    throw new AppError('unsupported_format', REJECT_HINT[magic] ?? 'This file is not audio we can read. Upload a WAV (PCM) or FLAC file.');
  }
  const isWav = formatName === 'wav' && (magic === 'wav' || magic === 'rf64');
  const isFlac = formatName === 'flac' && magic === 'flac';
  if (!isWav && !isFlac) {
    throw new AppError('unsupported_format', REJECT_HINT[magic] ?? `This is ${formatName || 'an unknown format'}, not WAV or FLAC. Upload a WAV (PCM) or FLAC file.`);
  }

  const codec = audio.codec_name ?? '';
  let bits: number;
  let sampleFormat: SampleFormat;
  if (isWav) {
    const c = WAV_CODECS[codec];
    if (!c) {
      throw new AppError('unsupported_format', `This WAV holds ${codec || 'an unknown codec'}; we accept PCM 16/24/32-bit integer or 32-bit float. Export it as PCM WAV or FLAC.`);
    }
    bits = c.bits;
    sampleFormat = c.fmt;
  } else {
    if (codec !== 'flac') throw new AppError('unsupported_format', 'This FLAC container does not hold FLAC audio. Export it again as FLAC or WAV.');
    bits = Number(audio.bits_per_raw_sample ?? 0);
    if (bits !== 16 && bits !== 24) {
      throw new AppError('unsupported_format', `This FLAC is ${bits || 'of unknown'}-bit; we accept 16- or 24-bit FLAC. Export it at 16 or 24 bits.`);
    }
    sampleFormat = bits === 16 ? 's16' : 's24';
  }
  const sampleRate = Number(audio.sample_rate ?? 0);
  if (sampleRate < MIN_RATE || sampleRate > MAX_RATE) {
    throw new AppError('unsupported_format', `The sample rate is ${sampleRate} Hz; we accept 8 kHz to 192 kHz. Resample the file and re-upload.`);
  }
  const channels = audio.channels ?? 0;
  if (channels < 1 || channels > MAX_CHANNELS) {
    throw new AppError('unsupported_format', `The file has ${channels} channels; we accept 1 to ${MAX_CHANNELS} (more than 2 are mixed down to stereo).`);
  }

  // A truncated WAV still probes fine (ffprobe trusts the size in the header): compare it with the bytes present.
  if (magic === 'wav') {
    const data = await wavDataChunk(file, st.size);
    const streamed = data && (data.declared === 0 || data.declared === 0xffffffff);
    if (!data) throw new AppError('corrupt_audio', 'The WAV file has no readable data chunk. Export it again and re-upload.');
    if (!streamed && data.offset + data.declared > st.size) {
      const missing = data.offset + data.declared - st.size;
      throw new AppError('corrupt_audio', `The WAV file is truncated: its header announces ${data.declared} bytes of audio but ${missing} bytes are missing. Upload the complete file.`);
    }
  }

  const declaredS = Number(audio.duration ?? info.format?.duration ?? NaN);
  // Reject over-long files before spending a full decode on them.
  if (Number.isFinite(declaredS) && declaredS * 1000 > MAX_DURATION_MS + TRUNCATION_TOLERANCE_MS) {
    throw new AppError('duration_out_of_range', `The track is ${(declaredS / 60).toFixed(1)} minutes long; tracks must last between 1 second and 2 hours.`);
  }
  if (opts.decode === false && Number.isFinite(declaredS)) {
    const declaredMs = declaredS * 1000;
    if (declaredMs < MIN_DURATION_MS || declaredMs > MAX_DURATION_MS) {
      throw new AppError('duration_out_of_range', `The track is ${declaredS.toFixed(1)} s long; tracks must last between 1 second and 2 hours.`);
    }
    return {
      format: isWav ? 'wav' : 'flac', codec, sampleRate, channels, channelLayout: audio.channel_layout, bitsPerSample: bits, sampleFormat,
      durationMs: Math.round(declaredMs), totalSamples: Math.round(declaredS * sampleRate), isLossless: true, downmix: channels > 2, decoded: false,
    };
  }
  const { decodedUs, errors } = await decodeCheck(file, opts);
  if (errors) {
    // The raw decoder text ("Error while decoding stream #0:0 ...") is for operators: log only.
    log?.warn({ file, ffmpeg: tail(errors, 4) }, 'probe: decode errors');
    throw new AppError('corrupt_audio', 'Part of the audio is damaged and does not play back cleanly (the file was probably corrupted during export or copying). Export it again from your audio editor and re-upload.');
  }
  const durationMs = decodedUs / 1000;
  if (Number.isFinite(declaredS) && durationMs < declaredS * 1000 - TRUNCATION_TOLERANCE_MS) {
    throw new AppError('corrupt_audio', `The file is truncated: its header announces ${declaredS.toFixed(2)} s but only ${(durationMs / 1000).toFixed(2)} s of audio decode. Upload the complete file.`);
  }
  if (durationMs < MIN_DURATION_MS || durationMs > MAX_DURATION_MS) {
    throw new AppError('duration_out_of_range', `The track is ${(durationMs / 1000).toFixed(1)} s long; tracks must last between 1 second and 2 hours.`);
  }
  // Declared sample count is exact when the header is (it always is once the checks above passed).
  const totalSamples = Number.isFinite(declaredS) ? Math.round(declaredS * sampleRate) : Math.round((durationMs / 1000) * sampleRate);
  return {
    format: isWav ? 'wav' : 'flac',
    codec,
    sampleRate,
    channels,
    channelLayout: audio.channel_layout,
    bitsPerSample: bits,
    sampleFormat,
    durationMs: Math.round(Number.isFinite(declaredS) ? declaredS * 1000 : durationMs),
    totalSamples,
    isLossless: true,
    downmix: channels > 2,
    decoded: true,
  };
}
