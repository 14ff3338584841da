import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { existsSync, readdirSync } from 'node:fs';
import { isAppError } from '@platform/errors';
import { packageRenditions, probeAudio, transcodeAndPackage, transcodeLadder } from '../src/index';
import { makeWav, tempDir } from './fixtures';
import { verifyPackagedTrack } from './verify-package';
import { readInitPriming } from './mp4-boxes';

let dir = '';
before(() => {
  dir = tempDir('media-pipeline');
});
const f = (name: string) => path.join(dir, name);

test('packaging while transcoding (FIFOs) gives the same package as from files: durations, segments, edit lists', async () => {
  const src = makeWav(f('src.wav'), { seconds: 9 });
  const probe = await probeAudio(src);
  const streamed = await transcodeAndPackage(src, f('streamed'), { probe, threads: 2, tmpDir: dir, segmentDurationS: 2 });
  const tr = await transcodeLadder(src, f('enc'), { probe, threads: 2, tmpDir: dir });
  const files = await packageRenditions(tr.renditions, f('files'), { segmentDurationS: 2 });

  verifyPackagedTrack(f('streamed'), probe.durationMs);
  verifyPackagedTrack(f('files'), probe.durationMs);
  assert.ok(streamed.loudness && streamed.peaks?.length, 'analysis ran in the same decode');
  assert.deepEqual(streamed.package.files, files.files, 'same objects to publish, same order');
  const byId = new Map(files.renditions.map((r) => [r.id, r]));
  for (const r of streamed.package.renditions) {
    const g = byId.get(r.id)!;
    assert.equal(r.durationMs, g.durationMs, `${r.id} duration`);
    assert.equal(r.segments, g.segments, `${r.id} segments`);
    assert.equal(r.codecs, g.codecs, `${r.id} codecs`);
  }
  // Priming: both ways keep the encoders' edit lists in the packaged init segments.
  for (const root of [f('streamed'), f('files')]) {
    const aac = readInitPriming(path.join(root, 'aac_128/init.mp4'));
    assert.equal(aac.timescale, 44100);
    assert.deepEqual(aac.editList, [[0, 1024]], 'AAC: 1024 priming samples trimmed by the edit list');
    const opus = readInitPriming(path.join(root, 'opus_96/init.mp4'));
    assert.equal(opus.timescale, 48000);
    assert.equal(opus.opusPreSkip, 312);
    assert.deepEqual(opus.editList, [[0, 312]], 'Opus: pre-skip trimmed by the edit list');
    assert.deepEqual(readInitPriming(path.join(root, 'flac/init.mp4')).editList, [], 'FLAC has no priming');
  }
  // From files the encoders' 'roll' sample groups survive (ffmpeg writes none into fragmented MP4).
  assert.equal(readInitPriming(f('files/aac_128/init.mp4')).rollDistance, -1);
  assert.equal(readInitPriming(f('files/opus_96/init.mp4')).rollDistance, -4);
  assert.equal(readdirSync(dir).filter((n) => n.startsWith('pipes-')).length, 0, 'FIFOs removed');
});

test('a packager that fails stops the encoders (and the reverse): the call rejects instead of hanging on a FIFO', async () => {
  const src = makeWav(f('fail.wav'), { seconds: 3 });
  const probe = await probeAudio(src);
  await assert.rejects(
    transcodeAndPackage(src, f('fail-shaka'), { probe, threads: 2, tmpDir: dir, tools: { packager: '/bin/false' } }),
    (e: unknown) => isAppError(e) && /Packaging failed/.test(e.detail),
  );
  await assert.rejects(
    transcodeAndPackage(src, f('fail-ffmpeg'), { probe, threads: 2, tmpDir: dir, tools: { ffmpeg: '/bin/false' } }),
    (e: unknown) => isAppError(e) && /Transcoding failed/.test(e.detail),
  );
  const ac = new AbortController();
  const run = transcodeAndPackage(src, f('aborted'), { probe, threads: 2, tmpDir: dir, signal: ac.signal });
  ac.abort(new Error('stop now'));
  await assert.rejects(run, /stop now/);
  assert.equal(readdirSync(dir).filter((n) => n.startsWith('pipes-')).length, 0, 'FIFOs removed after failures');
  assert.ok(!existsSync(f('fail-shaka/manifest.mpd')));
});
