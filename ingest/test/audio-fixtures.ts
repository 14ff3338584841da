/** Test audio synthesized with ffmpeg (never downloaded): accepted formats and every rejected kind. */
import { spawnSync } from 'node:child_process';
import { writeFileSync, readFileSync } from 'node:fs';
import path from 'node:path';

export function ffmpeg(args: string[]): void {
  const r = spawnSync('ffmpeg', ['-nostdin', '-hide_banner', '-v', 'error', '-y', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ffmpeg ${args.join(' ')} failed: ${r.stderr}`);
}

export interface Fixtures {
  wav: string;
  flacTagged: string;
  surroundWav: string;
  pngAsWav: string;
  textAsWav: string;
  mp3: string;
  truncatedWav: string;
  empty: string;
  tooShort: string;
  cover: string;
}

/** Every file the upload tests need, in dir. */
export function makeFixtures(dir: string): Fixtures {
  const f = (n: string) => path.join(dir, n);
  const tone = (seconds: number, freq = 440) => ['-f', 'lavfi', '-i', `sine=f=${freq}:r=44100:d=${seconds}`];
  ffmpeg([...tone(3), '-ac', '2', '-c:a', 'pcm_s16le', f('ok.wav')]);
  ffmpeg([
    ...tone(2, 330), '-ac', '2', '-c:a', 'flac', '-sample_fmt', 's32', '-bits_per_raw_sample', '24',
    '-metadata', 'title=Звезда по имени Солнце', '-metadata', 'artist=Кино', '-metadata', 'album=Звезда', '-metadata', 'genre=Rock',
    '-metadata', 'date=1989', '-metadata', 'track=1', f('tagged.flac'),
  ]);
  ffmpeg([...tone(2, 220), '-filter_complex', '[0]asplit=6[a][b][c][d][e][f];[a][b][c][d][e][f]join=inputs=6:channel_layout=5.1[o]', '-map', '[o]', '-c:a', 'pcm_s24le', f('surround.wav')]);
  ffmpeg(['-f', 'lavfi', '-i', 'testsrc=s=64x64:d=1', '-frames:v', '1', '-f', 'image2', '-c:v', 'png', f('picture.wav')]);
  writeFileSync(f('notes.wav'), 'These are not the droids you are looking for.\n'.repeat(200));
  ffmpeg([...tone(3), '-c:a', 'libmp3lame', '-b:a', '128k', f('song.mp3')]);
  const whole = readFileSync(f('ok.wav'));
  writeFileSync(f('truncated.wav'), whole.subarray(0, Math.floor(whole.length * 0.4)));
  writeFileSync(f('empty.wav'), Buffer.alloc(0));
  ffmpeg([...tone(0.4), '-c:a', 'pcm_s16le', f('short.wav')]);
  ffmpeg(['-f', 'lavfi', '-i', 'testsrc=s=800x600:d=1', '-frames:v', '1', '-f', 'image2', '-c:v', 'mjpeg', f('cover.jpg')]);
  return {
    wav: f('ok.wav'),
    flacTagged: f('tagged.flac'),
    surroundWav: f('surround.wav'),
    pngAsWav: f('picture.wav'),
    textAsWav: f('notes.wav'),
    mp3: f('song.mp3'),
    truncatedWav: f('truncated.wav'),
    empty: f('empty.wav'),
    tooShort: f('short.wav'),
    cover: f('cover.jpg'),
  };
}
