/** Test audio synthesized with ffmpeg (never downloaded): sweeps, noise, silence, every accepted and rejected format. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, statSync, truncateSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const madeDirs = new Set<string>();

/** A temporary directory, removed when the test process exits (KEEP_TEST_TMP=1 keeps it, to look at after a failure). */
export function tempDir(name: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `${name}-`));
  if (!process.env.KEEP_TEST_TMP) {
    if (madeDirs.size === 0) process.once('exit', () => madeDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
    madeDirs.add(dir);
  }
  return dir;
}

export function ffmpeg(args: string[]): void {
  const r = spawnSync('ffmpeg', ['-nostdin', '-hide_banner', '-v', 'error', '-y', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ffmpeg ${args.join(' ')} failed: ${r.stderr}`);
}

/** Stereo source: a log sine sweep on the left, pink noise on the right (lavfi). extraInputs go before the graph. */
function stereoSource(seconds: number, rate: number, extraInputs: string[] = []): string[] {
  return [
    '-f', 'lavfi', '-i', `aevalsrc=0.5*sin(2*PI*(50*pow(200\\,t/${seconds})*${seconds}/log(200))):s=${rate}:d=${seconds}`,
    '-f', 'lavfi', '-i', `anoisesrc=c=pink:a=0.25:r=${rate}:d=${seconds}`,
    ...extraInputs,
    '-filter_complex', '[0][1]amerge=inputs=2[a]', '-map', '[a]',
  ];
}

export interface WavOptions {
  seconds?: number;
  rate?: number;
  codec?: 'pcm_s16le' | 'pcm_s24le' | 'pcm_s32le' | 'pcm_f32le';
  channels?: 1 | 2 | 6;
}

export function makeWav(file: string, o: WavOptions = {}): string {
  const seconds = o.seconds ?? 3;
  const rate = o.rate ?? 44100;
  const codec = o.codec ?? 'pcm_s16le';
  if (o.channels === 1) {
    ffmpeg(['-f', 'lavfi', '-i', `sine=f=440:r=${rate}:d=${seconds}`, '-c:a', codec, file]);
  } else if (o.channels === 6) {
    ffmpeg([
      '-f', 'lavfi', '-i', `sine=f=220:r=${rate}:d=${seconds}`,
      '-filter_complex', '[0]asplit=6[a][b][c][d][e][f];[a][b][c][d][e][f]join=inputs=6:channel_layout=5.1[o]',
      '-map', '[o]', '-c:a', codec, file,
    ]);
  } else {
    ffmpeg([...stereoSource(seconds, rate), '-c:a', codec, file]);
  }
  return file;
}

/** A small PNG (ffmpeg's test pattern) for embedded covers and the renamed-PNG reject. */
export function makePng(file: string, size = 640): string {
  ffmpeg(['-f', 'lavfi', '-i', `testsrc=s=${size}x${size}:d=1`, '-frames:v', '1', '-f', 'image2', '-c:v', 'png', file]);
  return file;
}

export interface FlacOptions {
  seconds?: number;
  rate?: number;
  bits?: 16 | 24;
  tags?: Record<string, string>;
  cover?: string;
}

export function makeFlac(file: string, o: FlacOptions = {}): string {
  const seconds = o.seconds ?? 3;
  const args = [...stereoSource(seconds, o.rate ?? 44100, o.cover ? ['-i', o.cover] : [])];
  if (o.cover) args.push('-map', '2:v', '-c:v', 'copy', '-disposition:v', 'attached_pic', '-metadata:s:v', 'comment=Cover (front)');
  args.push('-c:a', 'flac', '-sample_fmt', o.bits === 24 ? 's32' : 's16');
  if (o.bits === 24) args.push('-bits_per_raw_sample', '24');
  for (const [k, v] of Object.entries(o.tags ?? {})) args.push('-metadata', `${k}=${v}`);
  ffmpeg([...args, file]);
  return file;
}

export function makeMp3(file: string): string {
  ffmpeg([...stereoSource(3, 44100), '-c:a', 'libmp3lame', '-b:a', '128k', file]);
  return file;
}

/** Keep only the first `fraction` of the bytes (an upload cut short). */
export function truncate(src: string, dest: string, fraction: number): string {
  writeFileSync(dest, readFileSync(src));
  truncateSync(dest, Math.floor(statSync(dest).size * fraction));
  return dest;
}

/** WAVE format tag from the fmt chunk (0xFFFE is WAVE_FORMAT_EXTENSIBLE). */
export function wavFormatTag(file: string): number {
  const b = readFileSync(file);
  let pos = 12;
  while (pos + 8 < b.length) {
    const id = b.toString('latin1', pos, pos + 4);
    const size = b.readUInt32LE(pos + 4);
    if (id === 'fmt ') return b.readUInt16LE(pos + 8);
    pos += 8 + size + (size & 1);
  }
  return -1;
}

export function ffprobeJson(file: string, entries = 'format=duration:stream=codec_name,sample_rate,channels'): { format?: { duration?: string }; streams?: { codec_name?: string; sample_rate?: string; channels?: number }[] } {
  const r = spawnSync('ffprobe', ['-v', 'error', '-show_entries', entries, '-of', 'json', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ffprobe ${file}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** Decode fully; returns stderr (empty when clean). */
export function decodeErrors(file: string): string {
  const r = spawnSync('ffmpeg', ['-nostdin', '-v', 'error', '-i', file, '-f', 'null', '-'], { encoding: 'utf8' });
  return r.status === 0 ? r.stderr.trim() : `exit ${r.status}: ${r.stderr}`;
}
