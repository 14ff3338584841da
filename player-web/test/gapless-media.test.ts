/**
 * What the gapless chain reads from real packaged media: a synthesized WAV goes through the platform's own
 * ladder and shaka-packager (@platform/media), then the chain's ISO BMFF and playlist readers are run on the
 * files it wrote. Priming must come out as the encoders put it (AAC-LC 1024 from ffmpeg's aac, Opus pre-skip
 * 312, FLAC none), and each rendition's segments must add up to exactly the source's samples after the trim.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { packageRenditions, probeAudio, transcodeLadder } from '@platform/media';
import { parseFragment, parseInit, withoutEditList, withWholeLastFrame } from '../app/player/mp4';
import { parseMaster, parseMediaPlaylist } from '../app/player/playlists';

const run = promisify(execFile);
const RATE = 44100;
const SAMPLES = 5 * RATE + 777; // not a whole number of frames: the encoders pad the end
let dir: string;
let pkg: string;

const ab = (b: Buffer): ArrayBuffer => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'player-gapless-media-'));
  const wav = path.join(dir, 'in.wav');
  await run('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', `sine=frequency=441:sample_rate=${RATE}`, '-af', `atrim=end_sample=${SAMPLES}`, '-ac', '2', '-c:a', 'pcm_s16le', wav]);
  const probe = await probeAudio(wav);
  // The fMP4 families only: the chain never plays MP3 (TS has no init segment to read).
  const ladder = await transcodeLadder(wav, path.join(dir, 'enc'), {
    probe,
    analyze: false,
    renditions: [
      { id: 'aac_128', codec: 'aac', bitrateKbps: 128 },
      { id: 'opus_96', codec: 'opus', bitrateKbps: 96 },
      { id: 'flac', codec: 'flac', bitrateKbps: null },
    ],
  });
  pkg = path.join(dir, 'pkg');
  await packageRenditions(ladder.renditions, pkg);
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const read = async (rel: string) => ab(await readFile(path.join(pkg, rel)));

/** Segment timing of one rendition through its media playlist, as the chain reads it. */
async function renditionTiming(id: string) {
  const base = `http://edge.test/g/grant/tracks/t/v1/${id}/playlist.m3u8`;
  const pl = parseMediaPlaylist(await readFile(path.join(pkg, id, 'playlist.m3u8'), 'utf8'), base);
  const rel = (u: string) => path.posix.join(id, new URL(u).pathname.split('/').pop()!);
  const init = parseInit(await read(rel(pl.initUri)));
  let end = 0;
  let last: ArrayBuffer | undefined;
  for (const s of pl.segments) {
    last = await read(rel(s.uri));
    const t = parseFragment(last);
    assert.ok(t.baseTime >= end - 1, `${id}: segments are in order`);
    end = t.baseTime + t.duration;
  }
  return { pl, init, end, last: last! };
}

test('the master is audio-only variants the chain (and hls.js) read directly; relative URIs keep the grant path', async () => {
  const master = await readFile(path.join(pkg, 'master.m3u8'), 'utf8');
  const base = 'http://edge.test/g/grant123/tracks/t/v1/master.m3u8';
  const variants = parseMaster(master, base);
  assert.deepEqual(variants.map((v) => v.codecs).sort(), ['fLaC', 'mp4a.40.2', 'opus']);
  for (const v of variants) {
    assert.ok(v.uri.startsWith('http://edge.test/g/grant123/tracks/t/v1/'), v.uri);
    assert.ok(v.bandwidth > 0 && v.averageBandwidth > 0);
  }
  assert.ok(!master.includes('#EXT-X-MEDIA'), 'no audio group');
  // Packages written before carry an EXT-X-MEDIA group too: the variants are read the same way.
  const old = `#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,URI="aac_128/playlist.m3u8",GROUP-ID="audio",NAME="aac_128",DEFAULT=YES\n#EXT-X-STREAM-INF:BANDWIDTH=132071,AVERAGE-BANDWIDTH=130214,CODECS="mp4a.40.2",AUDIO="audio"\naac_128/playlist.m3u8\n`;
  assert.deepEqual(parseMaster(old, base), [{ uri: 'http://edge.test/g/grant123/tracks/t/v1/aac_128/playlist.m3u8', bandwidth: 132071, averageBandwidth: 130214, codecs: 'mp4a.40.2' }]);
});

test('AAC-LC: 1024 samples of priming in the edit list; segments end exactly at source + priming', async () => {
  const { init, end } = await renditionTiming('aac_128');
  assert.deepEqual({ ...init }, { timescale: 44100, primingSamples: 1024, primingSource: 'elst', sampleEntry: 'mp4a' });
  assert.equal(end - init.primingSamples, SAMPLES, 'after the trim, exactly the source');
});

test('Opus: 312 samples of pre-skip (edit list and dOps agree); exact length at 48 kHz', async () => {
  const { init, pl, end } = await renditionTiming('opus_96');
  assert.deepEqual({ ...init }, { timescale: 48000, primingSamples: 312, primingSource: 'elst', sampleEntry: 'Opus' });
  assert.equal(end - init.primingSamples, Math.round((SAMPLES * 48000) / RATE));
  // With the edit list neutralized (what the chain appends), the pre-skip still comes from dOps.
  const raw = await read(path.posix.join('opus_96', new URL(pl.initUri).pathname.split('/').pop()!));
  const stripped = withoutEditList(raw);
  assert.equal(stripped.byteLength, raw.byteLength, 'same size: the box is renamed, not removed');
  assert.deepEqual({ ...parseInit(stripped) }, { timescale: 48000, primingSamples: 312, primingSource: 'opus-preskip', sampleEntry: 'Opus' });
  assert.equal(parseInit(raw).primingSource, 'elst', 'the original is untouched');
});

test('FLAC: no priming, sample-exact end', async () => {
  const { init, end } = await renditionTiming('flac');
  assert.equal(init.primingSamples, 0);
  assert.equal(init.sampleEntry, 'fLaC');
  assert.equal(end, SAMPLES);
});

test('withWholeLastFrame gives the padded last frame its full duration and nothing else', async () => {
  const { last } = await renditionTiming('aac_128');
  const before = parseFragment(last);
  const after = parseFragment(withWholeLastFrame(last));
  const frame = 1024;
  const shortBy = (frame - ((before.baseTime + before.duration) % frame)) % frame;
  assert.ok(shortBy > 0, 'the source length leaves a short last frame');
  assert.equal(after.baseTime, before.baseTime);
  assert.equal(after.duration - before.duration, shortBy, 'only the last frame grew, to a whole frame');
  assert.equal(after.duration % frame, 0);
});
