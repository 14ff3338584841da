import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import sharp from 'sharp';
import { analyzeLoudness, readTags, renderCovers, trackGain, waveformPeaks } from '../src/index';
import { AppError } from '@platform/errors';
import { ffmpeg, makeFlac, makePng, makeWav, tempDir } from './fixtures';

let dir = '';
before(() => {
  dir = tempDir('media-tags');
});
const f = (name: string) => path.join(dir, name);

test('readTags keeps UTF-8/Cyrillic Vorbis comments and the embedded picture', async () => {
  const cover = makePng(f('cover.png'), 700);
  const file = makeFlac(f('tagged.flac'), {
    seconds: 1.5,
    cover,
    tags: { title: 'Группа крови', artist: 'Кино', album: 'Группа крови', track: '1', date: '1988', genre: 'Пост-панк', ISRC: 'RU-A01-88-00001' },
  });
  const t = await readTags(file);
  assert.equal(t.title, 'Группа крови');
  assert.equal(t.artist, 'Кино');
  assert.equal(t.album, 'Группа крови');
  assert.equal(t.trackNumber, 1);
  assert.equal(t.year, 1988);
  assert.equal(t.genre, 'Пост-панк');
  assert.equal(t.isrc, 'RUA018800001');
  assert.ok(t.picture, 'embedded picture found');
  assert.equal(t.picture.mimeType, 'image/png');

  const covers = await renderCovers(t.picture.data);
  assert.deepEqual(covers.map((c) => c.size), [96, 300, 600]);
  for (const c of covers) {
    const m = await sharp(c.data).metadata();
    assert.equal(m.format, 'jpeg');
    assert.equal(m.width, c.size);
    assert.equal(m.height, c.size);
  }
});

test('readTags on an untagged WAV returns no tags, and a non-image cover is refused', async () => {
  const t = await readTags(makeWav(f('plain.wav'), { seconds: 1 }));
  assert.equal(t.title, undefined);
  assert.equal(t.picture, undefined);
  await assert.rejects(renderCovers(Buffer.from('not an image')), (e: unknown) => e instanceof AppError && e.code === 'unsupported_format');
});

test('loudness of a -20 dBFS 997 Hz stereo sine is -20 LUFS, true peak about -20 dBTP, gain +6 dB', async () => {
  // lavfi's sine peaks at 1/8 of full scale (-18.06 dBFS): -1.94 dB more makes -20 dBFS, copied to both channels.
  ffmpeg(['-f', 'lavfi', '-i', 'sine=f=997:r=48000:d=4', '-af', 'volume=-1.94dB,pan=stereo|c0=c0|c1=c0', '-c:a', 'pcm_s24le', f('tone.wav')]);
  const l = await analyzeLoudness(f('tone.wav'));
  const peakDbfs = -20;
  assert.ok(Math.abs(l.truePeakDb - peakDbfs) < 0.5, `true peak ${l.truePeakDb} vs ${peakDbfs}`);
  // EBU Tech 3341 case 1: a stereo 1 kHz sine at -23 dBFS reads -23 LUFS.
  assert.ok(Math.abs(l.integratedLufs - peakDbfs) < 0.6, `integrated ${l.integratedLufs} vs ${peakDbfs}`);
  assert.equal(l.gainDb, trackGain(l.integratedLufs, l.truePeakDb));
  assert.ok(Math.abs(l.gainDb - 6) < 0.6, `gain ${l.gainDb}`);
});

test('trackGain aims at -14 LUFS but never lifts the true peak above -1 dBTP', () => {
  assert.equal(trackGain(-20, -10), 6);
  assert.equal(trackGain(-20, -3), 2);
  assert.equal(trackGain(-8, -0.1), -6);
  assert.equal(trackGain(-70, -Infinity), 24);
});

test('waveformPeaks: silence then tone gives zeros then the tone level, bucket count bounded', async () => {
  ffmpeg([
    '-f', 'lavfi', '-i', 'anullsrc=r=44100:cl=mono:d=1', '-f', 'lavfi', '-i', 'sine=f=440:r=44100:d=1',
    '-filter_complex', '[0][1]concat=n=2:v=0:a=1[a]', '-map', '[a]', '-c:a', 'pcm_s16le', f('sil-tone.wav'),
  ]);
  const peaks = await waveformPeaks(f('sil-tone.wav'), { totalSamples: 88200, buckets: 100 });
  assert.ok(peaks.length <= 100 && peaks.length >= 99, `got ${peaks.length}`);
  assert.ok(peaks.slice(0, 45).every((p) => p === 0), 'first half silent');
  assert.ok(peaks.slice(55).every((p) => Math.abs(p - 0.125) < 0.01), 'second half at the sine level (1/8 full scale)');
});
