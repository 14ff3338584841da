/** The HLS master writer: audio-only variants that hls.js and Safari consume as they are. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeAudioMaster } from '../src/index';

test('writeAudioMaster lists each rendition as a plain audio-only variant with CODECS and both bandwidths', () => {
  const text = writeAudioMaster([
    { playlist: 'aac_128/playlist.m3u8', codecs: 'mp4a.40.2', bandwidth: 132071, averageBandwidth: 130214 },
    { playlist: 'opus_96/playlist.m3u8', codecs: 'opus', bandwidth: 132829.4, averageBandwidth: 129894 },
    { playlist: 'flac/playlist.m3u8', codecs: 'fLaC', bandwidth: 901783, averageBandwidth: 0 },
  ]);
  const lines = text.trim().split('\n');
  assert.equal(lines[0], '#EXTM3U');
  assert.ok(!text.includes('#EXT-X-MEDIA'), 'no alternate audio group');
  assert.ok(!/AUDIO=/.test(text), 'variants name no audio group');
  assert.deepEqual(lines.filter((l) => l.startsWith('#EXT-X-STREAM-INF')), [
    '#EXT-X-STREAM-INF:BANDWIDTH=132071,AVERAGE-BANDWIDTH=130214,CODECS="mp4a.40.2"',
    '#EXT-X-STREAM-INF:BANDWIDTH=132829,AVERAGE-BANDWIDTH=129894,CODECS="opus"',
    '#EXT-X-STREAM-INF:BANDWIDTH=901783,CODECS="fLaC"',
  ]);
  // Each variant line is followed by its URI; the first (Safari's start variant) is AAC.
  assert.equal(lines[lines.indexOf('#EXT-X-STREAM-INF:BANDWIDTH=132071,AVERAGE-BANDWIDTH=130214,CODECS="mp4a.40.2"') + 1], 'aac_128/playlist.m3u8');
  assert.ok(text.endsWith('\n'));
});
