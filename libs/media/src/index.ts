/**
 * @platform/media: ffmpeg, shaka-packager, music-metadata and sharp as pure functions over files
 * and options (logger, temp dir, thread budget, progress callback). No HTTP, queue or catalog here.
 */
export * from './types';
export { probeAudio, decodeCheck, type ProbeOptions, MIN_DURATION_MS, MAX_DURATION_MS } from './probe';
export { readTags, renderCovers, COVER_SIZES, type TrackTags, type EmbeddedPicture, type RenderedCover } from './tags';
export { analyzeLoudness, waveformPeaks, trackGain, TARGET_LUFS, PEAK_CEILING_DB, DEFAULT_PEAK_BUCKETS } from './analysis';
export { transcodeLadder, checkFfmpeg, ladderFor, DEFAULT_LADDER, type TranscodeOptions, type TranscodeResult } from './ladder';
export {
  packageRenditions, renditionDurationMatches, fixCodecString, writeAudioMaster, DEFAULT_SEGMENT_DURATION_S, MASTER_PLAYLIST, DASH_MANIFEST, MEDIA_PLAYLIST,
  type PackageOptions, type PackageResult, type PackagedRendition,
} from './package';
export { transcodeAndPackage, type TranscodeAndPackageResult } from './pipeline';
export { toolPath, type ToolPaths } from './process';
