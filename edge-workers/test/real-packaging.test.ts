/**
 * End to end on real media: ffmpeg synthesizes a track, @platform/media transcodes and packages it
 * with shaka-packager (HLS master with AAC/Opus/MP3 and a static DASH MPD), the files go into the
 * object store, and a player's view is replayed through the edge: every URI in the HLS master and
 * media playlists (m3u8-parser) and every DASH segment (mpd-parser) resolves through the edge with the
 * same grant, byte for byte what the packager wrote.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Parser } from 'm3u8-parser';
import { parse as parseMpd } from 'mpd-parser';
import { signGrant } from '@platform/grants';
import { DEFAULT_LADDER, packageRenditions, probeAudio, transcodeLadder } from '@platform/media';
import { newTrackId, putObject, startStack, type Stack } from './harness';

let stack: Stack;
let edgeUrl: string;
const track = newTrackId();
const packaged = new Map<string, Buffer>();

before(async () => {
  stack = await startStack();
  ({ url: edgeUrl } = await stack.startEdge());
  const wav = path.join(stack.dir, 'source.wav');
  const r = spawnSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=f=440:r=44100:d=14', '-ac', '2', wav], { encoding: 'utf8' });
  assert.equal(r.status, 0, `ffmpeg failed: ${r.stderr}`);
  const probe = await probeAudio(wav);
  const renditions = DEFAULT_LADDER.filter((s) => ['aac_64', 'opus_64', 'mp3_128'].includes(s.id));
  const enc = await transcodeLadder(wav, path.join(stack.dir, 'enc'), { probe, renditions, analyze: false });
  const outDir = path.join(stack.dir, 'pkg');
  const pkg = await packageRenditions(enc.renditions, outDir, { segmentDurationS: 4 });
  for (const rel of pkg.files) {
    const body = await fs.readFile(path.join(outDir, rel));
    const key = `tracks/${track}/v1/${rel}`;
    packaged.set(key, body);
    await putObject(stack.objects, key, body);
  }
});
after(() => stack.close());

test('a shaka-packaged track plays through the edge with one grant (HLS and DASH)', async () => {
  const grant = signGrant(stack.keys[0], { trackId: track, version: 1, exp: Date.now() + 3600_000 });
  const prefix = `${edgeUrl}/g/${grant}/tracks/${track}/v1/`;
  const fetched = new Set<string>();
  const get = async (url: string): Promise<Buffer> => {
    assert.ok(url.startsWith(prefix), `${url} stays under the grant`);
    const r = await fetch(url);
    assert.equal(r.status, 200, url);
    const body = Buffer.from(await r.arrayBuffer());
    const key = `tracks/${track}/v1/${url.slice(prefix.length)}`;
    assert.deepEqual(body, packaged.get(key), `${key} is byte-identical to the packager's output`);
    fetched.add(key);
    return body;
  };

  const masterUrl = `${prefix}master.m3u8`;
  const master = new Parser();
  master.push((await get(masterUrl)).toString());
  master.end();
  const variants: string[] = (master.manifest.playlists ?? []).map((p: { uri: string }) => new URL(p.uri, masterUrl).toString());
  for (const group of Object.values(master.manifest.mediaGroups?.AUDIO ?? {}) as Record<string, { uri?: string }>[]) {
    for (const m of Object.values(group)) if (m.uri) variants.push(new URL(m.uri, masterUrl).toString());
  }
  assert.ok(new Set(variants).size >= 3, 'AAC, Opus and MP3 renditions');
  for (const v of new Set(variants)) {
    const media = new Parser();
    media.push((await get(v)).toString());
    media.end();
    const segs = media.manifest.segments as { uri: string; map?: { uri: string } }[];
    assert.ok(segs.length >= 3, v);
    for (const s of segs) {
      await get(new URL(s.uri, v).toString());
      if (s.map) await get(new URL(s.map.uri, v).toString());
    }
  }

  const mpdUrl = `${prefix}manifest.mpd`;
  const mpd = parseMpd((await get(mpdUrl)).toString(), { manifestUri: mpdUrl });
  const dashPlaylists = Object.values(mpd.mediaGroups?.AUDIO ?? {}).flatMap((g) => Object.values(g as Record<string, { playlists: { segments: { resolvedUri: string; map?: { resolvedUri: string } }[] }[] }>)).flatMap((m) => m.playlists);
  assert.ok(dashPlaylists.length >= 2, 'AAC and Opus in the MPD');
  for (const p of dashPlaylists) {
    for (const s of p.segments) {
      await get(s.resolvedUri);
      if (s.map) await get(s.map.resolvedUri);
    }
  }
  const segmentsAndInits = [...packaged.keys()].filter((k) => /\.(m4s|mp4|ts)$/.test(k));
  for (const k of segmentsAndInits) assert.ok(fetched.has(k), `${k} was reachable from the manifests`);
});
