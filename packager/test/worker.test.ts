import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { ZIngestProgress, ingestProgressKey } from '@platform/models';
import { createPackagerWorker, trackPrefix } from '../src/index';
import { makeFlac, makeMp3, makePng, makeWav, truncate } from '../../libs/media/test/fixtures';
import { verifyPackagedTrack } from '../../libs/media/test/verify-package';
import { downloadPrefix, startHarness, type Harness } from './harness';

let h: Harness;
const f = (name: string) => path.join(h.dir, name);

before(async () => {
  h = await startHarness('worker');
});
after(async () => {
  await h.close();
});

async function progressOf(trackId: string) {
  const raw = await h.deps.cache.get(ingestProgressKey(trackId));
  return raw ? ZIngestProgress.parse(JSON.parse(raw)) : null;
}

test('a FLAC job through the bus ends ready: renditions, loudness, peaks, cover, manifests all stored and playable', async () => {
  const cover = makePng(f('cover.png'), 400);
  const src = makeFlac(f('song.flac'), { seconds: 4, bits: 24, cover, tags: { title: 'Песня', artist: 'Исполнитель' } });
  const job = await h.addTrack(src, 'flac');
  const stages: string[] = [];
  const worker = createPackagerWorker(h.deps, { onStage: (_j, s) => stages.push(s) });
  await worker.start();
  try {
    await h.send(job);
    const t = await h.waitForStatus(job.trackId, 'ready');
    assert.equal(t.publishedVersion, 1);
    assert.ok(Math.abs((t.durationMs ?? 0) - 4000) <= 1);
    assert.equal(t.renditions.length, 9);
    assert.deepEqual(
      t.renditions.map((r) => `${r.codec}/${r.container}`).sort(),
      ['aac/fmp4', 'aac/fmp4', 'aac/fmp4', 'flac/fmp4', 'mp3/ts', 'mp3/ts', 'opus/fmp4', 'opus/fmp4', 'opus/fmp4'],
    );
    assert.ok(t.renditions.every((r) => Number.isInteger(r.bitrateKbps) && r.bitrateKbps > 0));
    assert.ok(t.loudness && t.loudness.integratedLufs < -5 && Number.isFinite(t.loudness.gainDb));
    const prefix = trackPrefix(job.trackId, 1);
    assert.equal(t.peaksKey, `${prefix}peaks.json`);
    assert.equal(t.coverKey, `${prefix}cover`);
    assert.deepEqual(stages, ['downloading', 'probing', 'transcoding', 'packaging', 'uploading', 'publishing', 'ready']);

    const local = f('stored');
    const keys = await downloadPrefix(h.deps.objects, prefix, local);
    for (const size of [96, 300, 600]) assert.ok(keys.includes(`${prefix}cover/${size}.jpg`), `cover ${size}`);
    const peaks = JSON.parse((await h.deps.objects.getBuffer(`${prefix}peaks.json`))!.toString());
    assert.ok(peaks.peaks.length > 700 && peaks.peaks.length <= 800);
    // Every URI in the stored manifests resolves to a stored object; every rendition decodes within 50 ms.
    verifyPackagedTrack(local, 4000);

    const p = await progressOf(job.trackId);
    assert.equal(p?.stage, 'ready');
    assert.equal(p?.percent, 100);
    const metrics = await h.registry.metrics();
    assert.match(metrics, /packager_jobs_total\{[^}]*outcome="ready"[^}]*\} 1/);
  } finally {
    await worker.stop();
  }
});

test('bad files end failed with the probe code and a sentence: MP3 renamed .wav, truncated WAV, damaged and truncated FLAC; 5.1 is downmixed not failed', async () => {
  const worker = createPackagerWorker(h.deps);
  await worker.start();
  try {
    const mp3 = makeMp3(f('x.mp3'));
    copyFileSync(mp3, f('mp3-named.wav'));
    const j1 = await h.addTrack(f('mp3-named.wav'), 'wav');
    const j2 = await h.addTrack(truncate(makeWav(f('w.wav'), { seconds: 3 }), f('cut.wav'), 0.6), 'wav');
    const j3 = await h.addTrack(makeWav(f('surround.wav'), { channels: 6, seconds: 2 }), 'wav', { downmix: true });
    // The packager probes headers only (ingest decoded the upload in full); these decode badly or end early,
    // so the transcode's own decode has to catch them and the full check name them.
    const flac = makeFlac(f('whole.flac'), { seconds: 3 });
    const bytes = readFileSync(flac);
    for (let i = bytes.length >> 1; i < (bytes.length >> 1) + 4000 && i < bytes.length; i++) bytes[i] = (i * 7919) & 0xff;
    writeFileSync(f('damaged.flac'), bytes);
    const j4 = await h.addTrack(f('damaged.flac'), 'flac');
    const j5 = await h.addTrack(truncate(flac, f('cut.flac'), 0.5), 'flac');
    for (const j of [j1, j2, j3, j4, j5]) await h.send(j);
    const t1 = await h.waitForStatus(j1.trackId, 'failed');
    assert.equal(t1.errorCode, 'unsupported_format');
    assert.match(t1.errorDetail ?? '', /MP3/);
    const t2 = await h.waitForStatus(j2.trackId, 'failed');
    assert.equal(t2.errorCode, 'corrupt_audio');
    const p2 = await progressOf(j2.trackId);
    assert.equal(p2?.stage, 'failed');
    assert.equal(p2?.error?.code, 'corrupt_audio');
    const t3 = await h.waitForStatus(j3.trackId, 'ready');
    assert.equal(t3.notes.downmixed, true);
    for (const j of [j4, j5]) {
      const t = await h.waitForStatus(j.trackId, 'failed');
      assert.equal(t.errorCode, 'corrupt_audio', `${t.errorCode}: ${t.errorDetail}`);
    }
    // Nothing was published for the failed ones (segments stored while encoding were removed).
    for (const j of [j1, j2, j4, j5]) {
      const left = [];
      for await (const o of h.deps.objects.list(trackPrefix(j.trackId, j.version))) left.push(o.key);
      assert.deepEqual(left, []);
    }
  } finally {
    await worker.stop();
  }
});

test('a worker killed mid-job leaves nothing visible; the redelivered job completes and replaces leftovers', async () => {
  const src = makeWav(f('crash.wav'), { seconds: 4 });
  const job = await h.addTrack(src, 'wav');
  const prefix = trackPrefix(job.trackId, job.version);
  // Leftovers of an earlier attempt that died while uploading (segments, no manifests).
  await h.deps.objects.put(`${prefix}aac_128/99.m4s`, Buffer.from('stale'));

  let killedAt = '';
  const first = createPackagerWorker(h.deps, {
    onStage: (_j, s) => {
      if (s === 'transcoding' && !killedAt) {
        killedAt = s;
        // Kill while ffmpeg runs: the job is aborted and its message stays uncommitted.
        setTimeout(() => void first.stop({ abort: true }), 150);
      }
    },
  });
  await first.start();
  await h.send(job);
  while (!killedAt) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 600));
  const mid = await (await import('@platform/catalog')).getTrack(h.deps.sql, job.trackId);
  assert.equal(mid?.status, 'processing');
  assert.equal(mid?.publishedVersion, null);
  assert.equal(await h.deps.objects.head(`${prefix}master.m3u8`), null, 'no master before publication');
  assert.equal(await h.deps.objects.head(`${prefix}manifest.mpd`), null, 'no MPD before publication');

  const second = createPackagerWorker(h.deps);
  await second.start();
  try {
    const t = await h.waitForStatus(job.trackId, 'ready');
    assert.equal(t.publishedVersion, job.version);
    assert.equal(await h.deps.objects.head(`${prefix}aac_128/99.m4s`), null, 'stale object from the crashed attempt removed');
    const local = f('crash-stored');
    await downloadPrefix(h.deps.objects, prefix, local);
    verifyPackagedTrack(local, 4000, { decode: false });
    // Delivered again after success (at-least-once): acknowledged without redoing the work.
    assert.equal(await second.processJob(job), 'skipped');
  } finally {
    await second.stop();
  }
});

test('unexpected errors are retried a bounded number of times, then the track is failed', async () => {
  const job = await h.addTrack(makeWav(f('retry.wav'), { seconds: 2 }), 'wav');
  const worker = createPackagerWorker(h.deps, { maxAttempts: 2, tools: { packager: path.join(h.dir, 'no-such-packager') } });
  await worker.start();
  try {
    await h.send(job);
    const t = await h.waitForStatus(job.trackId, 'failed', 60_000);
    assert.equal(t.errorCode, 'internal_error');
    const metrics = await h.registry.metrics();
    assert.match(metrics, /packager_jobs_total\{[^}]*outcome="retried"[^}]*\} 1/);
    assert.equal(await h.deps.objects.head(`${trackPrefix(job.trackId, job.version)}master.m3u8`), null);
  } finally {
    await worker.stop();
  }
});
