import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { analyzeLoudness, DEFAULT_LADDER, packageRenditions, probeAudio, transcodeLadder, waveformPeaks, type MediaProgress } from '../src/index';
import { isAppError } from '@platform/errors';
import { makeFlac, makeWav, tempDir } from './fixtures';
import { verifyPackagedTrack } from './verify-package';

let dir = '';
before(() => {
  dir = tempDir('media-ladder');
});
const f = (name: string) => path.join(dir, name);

async function ladderAndPackage(src: string, name: string, threads = 1, segmentDurationS = 4) {
  const probe = await probeAudio(src);
  const seen: MediaProgress[] = [];
  const tr = await transcodeLadder(src, f(`${name}-enc`), { probe, threads, onProgress: (p) => seen.push(p) });
  const pkg = await packageRenditions(tr.renditions, f(`${name}-pkg`), { segmentDurationS });
  return { probe, tr, pkg, seen, root: f(`${name}-pkg`) };
}

test('full ladder from a 16-bit stereo WAV: 9 renditions, analysis in the same decode, valid HLS + DASH', async () => {
  const src = makeWav(f('stereo.wav'), { seconds: 5 });
  const { probe, tr, pkg, seen, root } = await ladderAndPackage(src, 'stereo', 1, 2);
  assert.deepEqual(tr.renditions.map((r) => r.id), DEFAULT_LADDER.map((r) => r.id));
  assert.ok(tr.loudness && Number.isFinite(tr.loudness.integratedLufs) && tr.loudness.integratedLufs < -3);
  assert.ok(tr.peaks && tr.peaks.length > 790 && tr.peaks.length <= 800 && tr.peaks.some((p) => p > 0.1));
  assert.equal(seen.at(-1)?.percent, 100);
  assert.ok(seen.every((p, i) => i === 0 || p.percent >= seen[i - 1].percent), 'progress never goes back');

  const verified = verifyPackagedTrack(root, probe.durationMs);
  assert.equal(verified.length, 9);
  const codecs = new Set(verified.map((v) => v.codecs));
  assert.deepEqual([...codecs].sort(), ['fLaC', 'mp4a.40.2', 'mp4a.40.34', 'opus']);
  // Segment duration honoured: 2 s segments -> 3 segments for 5 s.
  const aac = readFileSync(path.join(root, 'aac_128/playlist.m3u8'), 'utf8');
  assert.equal((aac.match(/#EXTINF/g) ?? []).length, 3);
  assert.match(aac, /#EXT-X-TARGETDURATION:[23]\n/);
  // Publish order: media before playlists, master and MPD last.
  assert.deepEqual(pkg.files.slice(-2), ['master.m3u8', 'manifest.mpd']);
  const firstPlaylist = pkg.files.findIndex((x) => x.endsWith('.m3u8'));
  assert.ok(pkg.files.slice(firstPlaylist).every((x) => x.endsWith('.m3u8') || x.endsWith('.mpd')));
  for (const r of pkg.renditions) assert.ok(Math.abs(r.durationMs - probe.durationMs) <= 50, `${r.id} playlist ${r.durationMs} ms`);
  // The master starts with AAC 128 (plays everywhere).
  assert.match(readFileSync(path.join(root, 'master.m3u8'), 'utf8'), /#EXT-X-STREAM-INF:[^\n]*\naac_128\/playlist\.m3u8/);
});

test('5.1 WAV is downmixed to stereo in every rendition; ladder split over 2 processes gives the same set', async () => {
  const src = makeWav(f('surround.wav'), { channels: 6, seconds: 3 });
  const { probe, tr, root } = await ladderAndPackage(src, 'surround', 2);
  assert.equal(probe.downmix, true);
  assert.equal(tr.renditions.length, 9);
  assert.ok(tr.renditions.every((r) => r.channels === 2));
  assert.ok(tr.loudness && tr.peaks?.length);
  verifyPackagedTrack(root, probe.durationMs);
  const init = path.join(root, 'opus_96/init.mp4');
  const { spawnSync } = await import('node:child_process');
  const pr = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=channels,sample_rate', '-of', 'csv=p=0', init], { encoding: 'utf8' });
  assert.equal(pr.stdout.trim(), '48000,2');
});

test('split over 2 and 3 processes (one resampler per process for the Opus branches): same loudness and peaks as the standalone analysis', async () => {
  const src = makeWav(f('split.wav'), { seconds: 4 });
  const probe = await probeAudio(src);
  const alone = { loudness: await analyzeLoudness(src), peaks: await waveformPeaks(src, { totalSamples: probe.totalSamples }) };
  for (const threads of [2, 3]) {
    const tr = await transcodeLadder(src, f(`split-${threads}`), { probe, threads });
    assert.deepEqual(tr.renditions.map((r) => r.id), DEFAULT_LADDER.map((r) => r.id));
    assert.deepEqual(tr.loudness, alone.loudness);
    assert.deepEqual(tr.peaks, alone.peaks);
  }
});

test('a decode error stops the transcode (-xerror) instead of encoding past it', async () => {
  const flac = makeFlac(f('dmg.flac'), { seconds: 3 });
  const bytes = readFileSync(flac);
  for (let i = bytes.length >> 1; i < (bytes.length >> 1) + 4000; i++) bytes[i] = (i * 7919) & 0xff;
  writeFileSync(f('dmg2.flac'), bytes);
  const probe = await probeAudio(f('dmg2.flac'), { decode: false });
  await assert.rejects(transcodeLadder(f('dmg2.flac'), f('dmg-enc'), { probe, threads: 2 }), (e: unknown) => isAppError(e) && /Transcoding failed/.test(e.detail));
});

test('edge formats: 8 kHz mono WAV and 24-bit 96 kHz FLAC package and play', async () => {
  const mono = await ladderAndPackage(makeWav(f('mono8k.wav'), { channels: 1, rate: 8000, seconds: 2 }), 'mono8k');
  assert.ok(mono.tr.renditions.every((r) => r.channels === 1));
  verifyPackagedTrack(mono.root, mono.probe.durationMs);
  const hi = await ladderAndPackage(makeFlac(f('hi.flac'), { bits: 24, rate: 96000, seconds: 2 }), 'hi96');
  const flac = hi.tr.renditions.find((r) => r.codec === 'flac');
  assert.equal(flac?.sampleRate, 96000);
  verifyPackagedTrack(hi.root, hi.probe.durationMs);
});

test('192 kHz source packages (FLAC kept at the source rate)', async () => {
  const r = await ladderAndPackage(makeWav(f('hi192.wav'), { codec: 'pcm_s24le', rate: 192000, seconds: 1.5 }), 'hi192');
  verifyPackagedTrack(r.root, r.probe.durationMs);
});

test('aborting a transcode kills its ffmpeg runs and rejects with the reason', async () => {
  const src = makeWav(f('abort.wav'), { seconds: 5 });
  const probe = await probeAudio(src);
  const ac = new AbortController();
  const reason = new Error('stop now');
  const started = transcodeLadder(src, f('abort-enc'), {
    probe,
    threads: 2,
    signal: ac.signal,
    onProgress: () => ac.abort(reason),
  });
  await assert.rejects(started, (e: unknown) => e === reason);
});
