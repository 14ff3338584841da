/**
 * Checks a packaged track the way a player would see it: the master parses with m3u8-parser, the MPD
 * with mpd-parser, every URI in them resolves to a file under the track's directory, every
 * rendition decodes with ffmpeg, and its duration (ffprobe over the media playlist) matches the
 * source within 50 ms. Shared by the media and packager tests.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Parser } from 'm3u8-parser';
import { parse as parseMpd } from 'mpd-parser';

const BASE = 'https://edge.test/g/GRANT/tracks/t/v1/';

/** Resolve a manifest URI against the grant-carrying URL and map it back to a local path (must stay inside). */
function resolveLocal(root: string, fromRel: string, uri: string): string {
  assert.ok(!/^[a-z]+:/i.test(uri) && !uri.startsWith('/'), `URI must be relative: ${uri}`);
  const url = new URL(uri, new URL(fromRel, BASE));
  assert.ok(url.href.startsWith(BASE), `URI escapes the track prefix (and its grant): ${uri}`);
  const rel = decodeURIComponent(url.href.slice(BASE.length));
  const file = path.join(root, rel);
  assert.ok(existsSync(file), `URI does not resolve to a file: ${uri} (from ${fromRel})`);
  return rel;
}

export interface VerifiedRendition {
  name: string;
  codecs: string;
  durationMs: number;
}

export function parseMaster(text: string) {
  const p = new Parser();
  p.push(text);
  p.end();
  return p.manifest;
}

export function verifyPackagedTrack(root: string, sourceDurationMs: number, opts: { decode?: boolean; toleranceMs?: number } = {}): VerifiedRendition[] {
  const tolerance = opts.toleranceMs ?? 50;
  const master = parseMaster(readFileSync(path.join(root, 'master.m3u8'), 'utf8'));
  assert.ok(master.playlists.length > 0, 'master has variants');
  // Plain audio-only variants (what hls.js plays directly): no EXT-X-MEDIA group, no AUDIO attribute.
  assert.deepEqual(Object.keys(master.mediaGroups?.AUDIO ?? {}), [], 'no EXT-X-MEDIA audio group in the master');
  const out: VerifiedRendition[] = [];
  for (const v of master.playlists as { uri: string; attributes: Record<string, unknown> }[]) {
    const codecs = String(v.attributes.CODECS);
    assert.ok(Number(v.attributes.BANDWIDTH) > 0, 'BANDWIDTH');
    assert.ok(Number(v.attributes['AVERAGE-BANDWIDTH']) > 0, 'AVERAGE-BANDWIDTH');
    assert.match(codecs, /^(mp4a\.40\.2|mp4a\.40\.34|opus|fLaC)$/, `codec string ${codecs}`);
    assert.equal(v.attributes.AUDIO, undefined, `${v.uri} names no audio group`);
    const mediaRel = resolveLocal(root, 'master.m3u8', v.uri);
    const media = parseMaster(readFileSync(path.join(root, mediaRel), 'utf8'));
    assert.ok(media.endList, `${mediaRel} is VOD (ENDLIST)`);
    assert.ok(media.segments.length > 0);
    for (const s of media.segments as { uri: string; map?: { uri: string } }[]) {
      resolveLocal(root, mediaRel, s.uri);
      if (s.map) resolveLocal(root, mediaRel, s.map.uri);
    }
    // What ffprobe/ffmpeg make of the rendition through its playlist.
    const pr = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration:stream=codec_name', '-of', 'json', path.join(root, mediaRel)], { encoding: 'utf8' });
    assert.equal(pr.status, 0, `ffprobe ${mediaRel}: ${pr.stderr}`);
    const durationMs = Number(JSON.parse(pr.stdout).format.duration) * 1000;
    assert.ok(Math.abs(durationMs - sourceDurationMs) <= tolerance, `${mediaRel}: ${durationMs.toFixed(1)} ms vs source ${sourceDurationMs} ms`);
    if (opts.decode ?? true) {
      const dec = spawnSync('ffmpeg', ['-nostdin', '-v', 'error', '-i', path.join(root, mediaRel), '-f', 'null', '-'], { encoding: 'utf8' });
      assert.equal(dec.status, 0, `decode ${mediaRel}: ${dec.stderr}`);
      assert.equal(dec.stderr.trim(), '', `decode errors in ${mediaRel}`);
    }
    out.push({ name: v.uri.split('/')[0], codecs, durationMs });
  }

  const mpdText = readFileSync(path.join(root, 'manifest.mpd'), 'utf8');
  assert.match(mpdText, /type="static"/);
  const mpd = parseMpd(mpdText, { manifestUri: `${BASE}manifest.mpd` });
  const dashPlaylists = Object.values(mpd.mediaGroups.AUDIO.audio as Record<string, { playlists: { segments: { resolvedUri: string; map?: { resolvedUri: string } }[] }[] }>).flatMap((g) => g.playlists);
  assert.ok(dashPlaylists.length > 0, 'MPD has audio representations');
  for (const pl of dashPlaylists) {
    assert.ok(pl.segments.length > 0);
    for (const s of pl.segments) {
      for (const u of [s.resolvedUri, s.map?.resolvedUri].filter((x): x is string => !!x)) {
        assert.ok(u.startsWith(BASE), `MPD URI escapes the prefix: ${u}`);
        assert.ok(existsSync(path.join(root, u.slice(BASE.length))), `MPD URI does not resolve: ${u}`);
      }
    }
  }
  assert.ok(!/\.ts"/.test(mpdText) && !/mp3/i.test(mpdText), 'MPD carries fMP4 renditions only');
  return out;
}
