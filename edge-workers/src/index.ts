/**
 * @platform/edge-workers: the CDN edge (createEdgeServer, :8081) and the playback route that signs
 * the URLs players fetch from it (playbackRoutes, mounted on the web server).
 */
export { createEdgeServer } from './edge-server';
export type { EdgeDeps, EdgeOptions, EdgeServer, EdgeStats, CacheResult } from './edge-server';
export { playbackRoutes, HLS_MASTER, DASH_MANIFEST } from './playback-routes';
export type { PlaybackDeps } from './playback-routes';
export { parseCmcdList, readCmcd } from './cmcd';
export { HashRing } from './hash-ring';
export { nextSegmentKeys } from './next-segments';
export { ByteLru } from './byte-lru';
export { PurgeList } from './purge';
export { loadZeroCopy } from './zero-copy';
export type { ZeroCopy, ZeroCopyAddon } from './zero-copy';
export { loadFastPath } from './fast-path';
export type { FastPathAddon, FastPathStats } from './fast-path';
