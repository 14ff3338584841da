import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFileSync, copyFileSync, readFileSync } from 'node:fs';
import { probeAudio } from '../src/index';
import type { MediaLogger } from '../src/types';
import { AppError } from '@platform/errors';
import { ffmpeg, makeFlac, makeMp3, makePng, makeWav, tempDir, truncate, wavFormatTag } from './fixtures';

let dir = '';
before(() => {
  dir = tempDir('media-probe');
});

const f = (name: string) => path.join(dir, name);

async function rejects(file: string, code: string, logger?: MediaLogger, decode = true) {
  await assert.rejects(probeAudio(file, { logger, decode }), (e: unknown) => {
    assert.ok(e instanceof AppError, `expected AppError, got ${String(e)}`);
    assert.equal(e.code, code, `${path.basename(file)}: ${e.detail}`);
    assert.ok(e.detail.length > 20, 'detail is a sentence');
    // Musicians read the detail: no raw ffmpeg/ffprobe text ("Error while decoding stream #0:0", "[flac @ 0x...]").
    assert.doesNotMatch(e.detail, /#\d+:\d+|@ 0x|error while|invalid data|\[\w+ @/i, `${path.basename(file)}: ${e.detail}`);
    return true;
  });
}

test('accepts WAV PCM s16/s24/s32/f32 (s24+ written as WAVE_FORMAT_EXTENSIBLE)', async () => {
  const cases = [
    { codec: 'pcm_s16le', bits: 16, fmt: 's16' },
    { codec: 'pcm_s24le', bits: 24, fmt: 's24' },
    { codec: 'pcm_s32le', bits: 32, fmt: 's32' },
    { codec: 'pcm_f32le', bits: 32, fmt: 'f32' },
  ] as const;
  for (const c of cases) {
    const file = makeWav(f(`${c.codec}.wav`), { codec: c.codec, seconds: 2 });
    if (c.bits > 16) assert.equal(wavFormatTag(file), 0xfffe, 'fixture uses WAVE_FORMAT_EXTENSIBLE');
    const p = await probeAudio(file);
    assert.equal(p.format, 'wav');
    assert.equal(p.codec, c.codec);
    assert.equal(p.bitsPerSample, c.bits);
    assert.equal(p.sampleFormat, c.fmt);
    assert.equal(p.sampleRate, 44100);
    assert.equal(p.channels, 2);
    assert.equal(p.durationMs, 2000);
    assert.equal(p.totalSamples, 88200);
    assert.equal(p.isLossless, true);
    assert.equal(p.downmix, false);
  }
});

test('accepts mono 8 kHz and stereo 192 kHz WAV', async () => {
  const mono = await probeAudio(makeWav(f('mono8k.wav'), { channels: 1, rate: 8000, seconds: 1.5 }));
  assert.equal(mono.channels, 1);
  assert.equal(mono.sampleRate, 8000);
  assert.equal(mono.durationMs, 1500);
  const hi = await probeAudio(makeWav(f('hi192.wav'), { rate: 192000, codec: 'pcm_s24le', seconds: 1.2 }));
  assert.equal(hi.sampleRate, 192000);
  assert.equal(hi.bitsPerSample, 24);
});

test('accepts FLAC 16 and 24 bit (even with an embedded picture stream)', async () => {
  const p16 = await probeAudio(makeFlac(f('a16.flac'), { bits: 16, seconds: 2 }));
  assert.deepEqual([p16.format, p16.codec, p16.bitsPerSample, p16.durationMs], ['flac', 'flac', 16, 2000]);
  const cover = makePng(f('cover.png'), 64);
  const p24 = await probeAudio(makeFlac(f('a24.flac'), { bits: 24, seconds: 2, cover }));
  assert.deepEqual([p24.format, p24.bitsPerSample, p24.sampleFormat], ['flac', 24, 's24']);
});

test('a WAV with a large chunk (100 KB JUNK) before its data chunk is accepted', async () => {
  const plain = readFileSync(makeWav(f('junk-src.wav'), { seconds: 1.5 }));
  // RIFF header (12 bytes) + fmt chunk stay first; a JUNK chunk goes in before the rest.
  const fmtSize = plain.readUInt32LE(16);
  const cut = 12 + 8 + fmtSize;
  const junk = Buffer.alloc(8 + 100_000);
  junk.write('JUNK', 0, 'latin1');
  junk.writeUInt32LE(100_000, 4);
  const out = Buffer.concat([plain.subarray(0, cut), junk, plain.subarray(cut)]);
  out.writeUInt32LE(out.length - 8, 4);
  writeFileSync(f('junk.wav'), out);
  const p = await probeAudio(f('junk.wav'));
  assert.equal(p.durationMs, 1500);
});

test('5.1 is accepted and flagged for downmix', async () => {
  const p = await probeAudio(makeWav(f('surround.wav'), { channels: 6, seconds: 2 }));
  assert.equal(p.channels, 6);
  assert.equal(p.downmix, true);
});

test('rejects by content, whatever the name: MP3, PNG renamed .wav, text', async () => {
  const mp3 = makeMp3(f('song.mp3'));
  copyFileSync(mp3, f('song-really-mp3.wav'));
  await rejects(mp3, 'unsupported_format');
  await rejects(f('song-really-mp3.wav'), 'unsupported_format');
  copyFileSync(makePng(f('img.png'), 32), f('image.wav'));
  await rejects(f('image.wav'), 'unsupported_format');
  writeFileSync(f('notes.wav'), 'These are my liner notes, not audio.\n'.repeat(50));
  await rejects(f('notes.wav'), 'unsupported_format');
  // 8-bit unsigned PCM is WAV but not one of the accepted sample formats.
  ffmpeg(['-f', 'lavfi', '-i', 'sine=d=2', '-c:a', 'pcm_u8', f('u8.wav')]);
  await rejects(f('u8.wav'), 'unsupported_format');
});

test('rejects truncated WAV and FLAC, and damaged FLAC, as corrupt_audio', async () => {
  const wav = makeWav(f('whole.wav'), { seconds: 3 });
  await rejects(truncate(wav, f('half.wav'), 0.5), 'corrupt_audio');
  const flac = makeFlac(f('whole.flac'), { seconds: 3 });
  await rejects(truncate(flac, f('half.flac'), 0.5), 'corrupt_audio');
  // Overwrite a stretch of the frames with garbage, at several places: without the frames' CRC check
  // about 1 in 20 such files decoded to noise without an error (a damaged upload accepted).
  const whole = readFileSync(flac);
  for (const at of [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]) {
    const bytes = Buffer.from(whole);
    const start = Math.floor(bytes.length * at);
    for (let i = start; i < start + 4000 && i < bytes.length; i++) bytes[i] = (i * 7919) & 0xff;
    writeFileSync(f(`damaged-${at}.flac`), bytes);
    // The decoder's own words are kept for operators, in the log.
    const logged: string[] = [];
    const logger: MediaLogger = { debug: () => undefined, info: () => undefined, warn: (o) => logged.push(JSON.stringify(o)) };
    await rejects(f(`damaged-${at}.flac`), 'corrupt_audio', logger);
    assert.ok(logged.some((l) => /flac|error|invalid|crc/i.test(l)), `raw decoder text is logged: ${logged.join(' | ')}`);
  }
  // Only the RIFF header survived.
  await rejects(truncate(wav, f('header-only.wav'), 0.001), 'corrupt_audio');
});

test('rejects too short and empty files', async () => {
  await rejects(makeWav(f('short.wav'), { seconds: 0.5 }), 'duration_out_of_range');
  writeFileSync(f('empty.wav'), '');
  await rejects(f('empty.wav'), 'empty_file');
});

test('decode: false checks the headers only: same probe without the decode, header-level rejections kept', async () => {
  const flac = makeFlac(f('h.flac'), { bits: 24, seconds: 2 });
  const full = await probeAudio(flac);
  const head = await probeAudio(flac, { decode: false });
  assert.equal(full.decoded, true);
  assert.equal(head.decoded, false);
  assert.deepEqual({ ...head, decoded: true }, full);
  const wav = makeWav(f('h.wav'), { seconds: 3, channels: 6 });
  assert.deepEqual({ ...(await probeAudio(wav, { decode: false })), decoded: true }, await probeAudio(wav));
  // What the headers show is still refused.
  copyFileSync(makeMp3(f('h.mp3')), f('h-mp3.wav'));
  await rejects(f('h-mp3.wav'), 'unsupported_format', undefined, false);
  await rejects(truncate(wav, f('h-half.wav'), 0.5), 'corrupt_audio', undefined, false);
  await rejects(makeWav(f('h-short.wav'), { seconds: 0.5 }), 'duration_out_of_range', undefined, false);
  // Damage inside the frames is not: the transcode's decode stops on it (-xerror, ladder-package.test.ts).
  const bytes = readFileSync(flac);
  for (let i = bytes.length >> 1; i < (bytes.length >> 1) + 4000; i++) bytes[i] = (i * 7919) & 0xff;
  writeFileSync(f('h-damaged.flac'), bytes);
  assert.equal((await probeAudio(f('h-damaged.flac'), { decode: false })).decoded, false);
});
