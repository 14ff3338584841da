// Unit tests of the codec-family plan (pure: playability and connection speed are passed in).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { familyOf, planLevels } from '../app/player/quality';

const LEVELS = [
  { codec: 'mp4a.40.2', bitrate: 70_000 }, // 0 AAC 64
  { codec: 'opus', bitrate: 100_000 }, // 1 Opus 96
  { codec: 'mp4a.40.2', bitrate: 135_000 }, // 2 AAC 128
  { codec: 'opus', bitrate: 170_000 }, // 3 Opus 160
  { codec: 'mp4a.40.34', bitrate: 330_000 }, // 4 MP3 320
  { codec: 'fLaC', bitrate: 900_000 }, // 5 FLAC
];
const all = () => true;
const noOpus = (c: string) => familyOf(c) !== 'opus';

test('familyOf maps RFC 6381 codec strings to families', () => {
  assert.equal(familyOf('mp4a.40.2'), 'aac');
  assert.equal(familyOf('mp4a.40.5'), 'aac');
  assert.equal(familyOf('mp4a.40.34'), 'mp3');
  assert.equal(familyOf('opus'), 'opus');
  assert.equal(familyOf('Opus'), 'opus');
  assert.equal(familyOf('fLaC'), 'flac');
  assert.equal(familyOf(''), 'other');
});

test('auto keeps only Opus when the browser plays it, and starts near 128 kbps', () => {
  const p = planLevels(LEVELS, 'auto', all, false)!;
  assert.equal(p.family, 'opus');
  assert.deepEqual(p.keep, [1, 3]);
  assert.equal(p.start, 1);
  assert.equal(p.pinned, undefined);
});

test('auto falls back to AAC without Opus support; a slow link starts at the lowest level', () => {
  const p = planLevels(LEVELS, 'auto', noOpus, true)!;
  assert.equal(p.family, 'aac');
  assert.deepEqual(p.keep, [0, 2]);
  assert.equal(p.start, 0);
});

test('low and high pin the ends of the family; lossless picks FLAC', () => {
  assert.equal(planLevels(LEVELS, 'low', all, false)!.pinned, 1);
  assert.equal(planLevels(LEVELS, 'high', all, false)!.pinned, 3);
  const l = planLevels(LEVELS, 'lossless', all, false)!;
  assert.equal(l.family, 'flac');
  assert.deepEqual(l.keep, [5]);
  assert.equal(l.fellBack, false);
});

test('lossless without a FLAC level falls back to the best lossy level and says so', () => {
  const p = planLevels(LEVELS.slice(0, 4), 'lossless', all, false)!;
  assert.equal(p.family, 'opus');
  assert.equal(p.pinned, 3);
  assert.equal(p.fellBack, true);
});

test('nothing playable gives no plan', () => {
  assert.equal(planLevels(LEVELS, 'auto', () => false, false), undefined);
});
