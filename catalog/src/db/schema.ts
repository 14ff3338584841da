/**
 * The catalog's table types for Kysely. `DB` is what `Kysely<DB>` queries against; other services
 * receive `Kysely<any>` in PlatformDeps and narrow it with `asCatalogDb(deps.sql)`.
 */
import type { ColumnType, Generated, Kysely } from 'kysely';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
/** jsonb: read as parsed JSON, written as a JSON string (pg serialises objects, but arrays need the string). */
type Json<T> = ColumnType<T, string, string>;

export type UserRole = 'listener' | 'musician' | 'admin';
export type TrackStatus = 'processing' | 'ready' | 'failed';

export interface Loudness {
  integratedLufs: number;
  truePeakDb: number;
  gainDb: number;
}

export interface Rendition {
  codec: string;
  bitrateKbps: number;
  container: string;
}

export interface UsersTable {
  id: Generated<string>;
  email: string;
  password_hash: string;
  display_name: string;
  role: UserRole;
  created_at: CreatedAt;
  updated_at: Timestamp;
  password_changed_at: Timestamp;
}

export interface ApiTokensTable {
  user_id: string;
  id: Generated<string>;
  name: string;
  /** SHA-256 of the secret part, never the token itself. */
  token_hash: Buffer;
  created_at: CreatedAt;
  last_used_at: Timestamp | null;
}

export interface ArtistsTable {
  id: Generated<string>;
  /** The musician account that manages this artist; null for artists created by an admin import. */
  owner_user_id: string | null;
  name: string;
  bio: string | null;
  search_key: ColumnType<string, string | undefined, string>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface AlbumsTable {
  id: Generated<string>;
  artist_id: string;
  title: string;
  year: number | null;
  cover_key: string | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface TracksTable {
  id: Generated<string>;
  artist_id: string;
  album_id: string | null;
  title: string;
  genre: string | null;
  track_number: number | null;
  year: number | null;
  isrc: string | null;
  status: TrackStatus;
  error_code: string | null;
  error_detail: string | null;
  duration_ms: number | null;
  loudness: Json<Loudness | null> | null;
  renditions: Json<Rendition[]>;
  /** The version being processed (bumped by each re-upload). */
  current_version: ColumnType<number, number | undefined, number>;
  /** The version listeners get; null until the first version is ready. */
  published_version: number | null;
  cover_key: string | null;
  peaks_key: string | null;
  original_key: string | null;
  notes: Json<Record<string, unknown>>;
  /** Normalised (unaccented, transliterated, lower-case) title + artist + album, maintained by the catalog. */
  search_key: ColumnType<string, string | undefined, string>;
  /** Generated: to_tsvector('simple', search_key). */
  search_tsv: ColumnType<string, never, never>;
  created_at: CreatedAt;
  updated_at: Timestamp;
  published_at: Timestamp | null;
}

export interface PlaylistsTable {
  user_id: string;
  id: Generated<string>;
  name: string;
  description: string | null;
  is_public: boolean;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface PlaylistItemsTable {
  user_id: string;
  playlist_id: string;
  id: Generated<string>;
  track_id: string;
  /** Dense 0..n-1; moves shift neighbours under a lock on the playlist row. */
  position: number;
  added_at: CreatedAt;
}

export interface LikesTable {
  user_id: string;
  track_id: string;
  created_at: CreatedAt;
}

export interface FollowsTable {
  user_id: string;
  artist_id: string;
  created_at: CreatedAt;
}

export interface DB {
  users: UsersTable;
  api_tokens: ApiTokensTable;
  artists: ArtistsTable;
  albums: AlbumsTable;
  tracks: TracksTable;
  playlists: PlaylistsTable;
  playlist_items: PlaylistItemsTable;
  likes: LikesTable;
  follows: FollowsTable;
}

export type CatalogDb = Kysely<DB>;

/** PlatformDeps.sql is `Kysely<any>`; this names the catalog schema on it (no runtime cost). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function asCatalogDb(db: Kysely<any>): CatalogDb {
  return db as CatalogDb;
}
