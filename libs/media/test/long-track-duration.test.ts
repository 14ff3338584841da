import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRenditions, renditionDurationMatches } from '../src/index';

// A 28-minute upload failed three times and ended `failed`: its FLAC playlist summed to 106 ms over
// the source although the media was sample-exact (EXTINF rounded to 1 ms per 3.97 s segment).
test('a long sample-exact FLAC rendition passes the duration check; a real gap still fails it', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'media-long-'));
  try {
    const file = path.join(dir, 'flac.mp4');
    execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-f', 'lavfi', '-i', 'anoisesrc=d=600:c=pink:r=44100:a=0.3', '-ac', '2',
      '-af', 'aformat=sample_fmts=s16', '-c:a', 'flac', '-compression_level', '0', '-strict', 'experimental', '-f', 'mp4', file]);
    const pkg = await packageRenditions([{ id: 'flac', codec: 'flac', bitrateKbps: null, file, container: 'fmp4', sampleRate: 44100, channels: 2 }], path.join(dir, 'out'), { segmentDurationS: 4 });
    const r = pkg.renditions[0];
    assert.ok(r.durationMs - 600_000 > 20, `the playlist sum drifts (${r.durationMs} ms): otherwise this test shows nothing`);
    assert.ok(renditionDurationMatches(r, 600_000), `${r.durationMs} ms over ${r.segments} segments`);
    // An encoder gap of 80 ms on a short track is still caught.
    assert.equal(renditionDurationMatches({ durationMs: 5080, segments: 2 }, 5000), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
