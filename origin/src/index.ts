export { createOriginServer, SEGMENT_CACHE_CONTROL, MANIFEST_CACHE_CONTROL } from './server';
export type { OriginDeps, OriginServer } from './server';
