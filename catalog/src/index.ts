/**
 * @platform/catalog: the system of record for accounts, artists, albums, tracks, playlists, likes and
 * follows (PostgreSQL), sessions (cache adapter), and the /api routes over them.
 */
export * from './auth-context';
export type { DB, CatalogDb, UserRole, TrackStatus, Loudness, Rendition } from './db/schema';
export { asCatalogDb } from './db/schema';
export { catalogMigrations, CATALOG_MIGRATIONS, distributeCatalogTables, CITUS_LAYOUT } from './db/migrations';
export {
  createTrack,
  startTrackVersion,
  markTrackReady,
  markTrackFailed,
  getTrack,
  getPublishedTrack,
  invalidateTrack,
  coverVersion,
  invalidateArtist,
  ensureArtist,
  ensureAlbum,
  trackCacheKey,
  trackGenerationKey,
  currentGeneration,
  type TrackRecord,
  type CreateTrackInput,
  type MarkReadyInput,
} from './tracks';
export { authPlugin, hashPassword, verifyPassword, createApiToken, SessionStore, type AuthOptions } from './auth';
export { catalogRoutes, renderTrack, type CatalogRoutesOptions } from './routes';
export { Documents, type ArtistRecord } from './documents';
export { createCatalogServer, type CatalogServerOptions } from './server';
