/**
 * Catalog area schemas (zod): accounts, tracks, artists, albums, playlists, likes, follows.
 * Requests are named ZXxxRequest / TXxxRequest; the server validates with them and clients may too.
 */
import { z } from 'zod';

export const ZUuid = z.uuid({ message: 'must be a UUID' });

const trimmed = (min: number, max: number) => z.string().trim().min(min, `must be at least ${min} character(s)`).max(max, `must be at most ${max} characters`);

// ---- accounts ------------------------------------------------------------------------------

export const ZEmail = z.string().trim().max(254, 'must be at most 254 characters').pipe(z.email({ message: 'must be an email address' }));
/** Long passphrases are welcome; the cap only bounds hashing work. */
export const ZPassword = z.string().min(8, 'must be at least 8 characters').max(256, 'must be at most 256 characters');
export const ZRole = z.enum(['listener', 'musician', 'admin']);
export type TRole = z.infer<typeof ZRole>;

export const ZSignupRequest = z.strictObject({
  email: ZEmail,
  password: ZPassword,
  displayName: trimmed(1, 100),
  role: z.enum(['listener', 'musician'], { message: 'must be "listener" or "musician"' }),
});
export type TSignupRequest = z.infer<typeof ZSignupRequest>;

export const ZLoginRequest = z.strictObject({
  email: ZEmail,
  password: z.string().min(1, 'is required').max(256, 'must be at most 256 characters'),
});
export type TLoginRequest = z.infer<typeof ZLoginRequest>;

export const ZChangePasswordRequest = z.strictObject({
  currentPassword: z.string().min(1, 'is required').max(256),
  newPassword: ZPassword,
});
export type TChangePasswordRequest = z.infer<typeof ZChangePasswordRequest>;

export const ZUpdateMeRequest = z.strictObject({ displayName: trimmed(1, 100) });
export type TUpdateMeRequest = z.infer<typeof ZUpdateMeRequest>;

export const ZCreateTokenRequest = z.strictObject({ name: trimmed(1, 100) });
export type TCreateTokenRequest = z.infer<typeof ZCreateTokenRequest>;

export const ZMe = z.object({
  id: ZUuid,
  email: z.string(),
  displayName: z.string(),
  role: ZRole,
  artistId: ZUuid.nullable(),
});
export type TMe = z.infer<typeof ZMe>;

export const ZApiToken = z.object({ id: ZUuid, name: z.string(), createdAt: z.string(), lastUsedAt: z.string().nullable() });
export const ZCreateTokenResponse = ZApiToken.extend({ token: z.string() });
export type TCreateTokenResponse = z.infer<typeof ZCreateTokenResponse>;

// ---- pagination ----------------------------------------------------------------------------

export const ZLimit = z.coerce.number().int('must be an integer').min(1, 'must be at least 1').max(100, 'must be at most 100').default(20);
/** Opaque cursor from a previous page's `nextCursor`. */
export const ZCursor = z.string().max(500, 'is not a cursor from this API').regex(/^[A-Za-z0-9_-]+$/, 'is not a cursor from this API').optional();

export const ZPageQuery = z.strictObject({ limit: ZLimit, cursor: ZCursor });
export type TPageQuery = z.infer<typeof ZPageQuery>;

export const ZListTracksRequest = z.strictObject({
  q: z.string().trim().max(200, 'must be at most 200 characters').optional(),
  limit: ZLimit,
  cursor: ZCursor,
  artistId: ZUuid.optional(),
  albumId: ZUuid.optional(),
  genre: trimmed(1, 100).optional(),
});
export type TListTracksRequest = z.infer<typeof ZListTracksRequest>;

export const ZSearchArtistsRequest = z.strictObject({
  q: z.string().trim().max(200, 'must be at most 200 characters').optional(),
  limit: ZLimit,
  cursor: ZCursor,
});
export type TSearchArtistsRequest = z.infer<typeof ZSearchArtistsRequest>;

// ---- documents -----------------------------------------------------------------------------

export const ZTrackStatus = z.enum(['processing', 'ready', 'failed']);
export const ZRenditionInfo = z.object({ codec: z.string(), bitrateKbps: z.number(), container: z.string() });
export const ZLoudnessInfo = z.object({ integratedLufs: z.number(), truePeakDb: z.number(), gainDb: z.number() });

/** GET /api/tracks/:id and every track in a list. */
export const ZTrack = z.object({
  id: ZUuid,
  title: z.string(),
  artist: z.string(),
  artistId: ZUuid,
  album: z.string().nullable(),
  albumId: ZUuid.nullable(),
  genre: z.string().nullable(),
  trackNumber: z.number().nullable(),
  year: z.number().nullable(),
  status: ZTrackStatus,
  error: z.object({ code: z.string(), detail: z.string() }).optional(),
  durationMs: z.number().nullable(),
  renditions: z.array(ZRenditionInfo),
  loudness: ZLoudnessInfo.optional(),
  hasCover: z.boolean(),
  /** Changes with the cover: `?v=` on the cover URL makes it immutable (cached for a year). */
  coverVersion: z.string().optional(),
  publishedAt: z.string().nullable(),
  /** Present for the owner and admins only. */
  version: z.number().optional(),
  publishedVersion: z.number().nullable().optional(),
});
export type TTrack = z.infer<typeof ZTrack>;

export const ZPage = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item), nextCursor: z.string().nullable() });

export const ZArtist = z.object({
  id: ZUuid,
  name: z.string(),
  bio: z.string().nullable(),
  ownerUserId: ZUuid.nullable(),
  followers: z.number(),
  trackCount: z.number(),
  albums: z.array(z.object({ id: ZUuid, title: z.string(), year: z.number().nullable() })),
});
export type TArtist = z.infer<typeof ZArtist>;

export const ZUpdateArtistRequest = z
  .strictObject({ name: trimmed(1, 200).optional(), bio: z.string().trim().max(5000, 'must be at most 5000 characters').nullable().optional() })
  .refine((v) => Object.keys(v).length > 0, 'needs at least one of name, bio');
export type TUpdateArtistRequest = z.infer<typeof ZUpdateArtistRequest>;

export const ZCreateAlbumRequest = z.strictObject({
  title: trimmed(1, 300),
  year: z.number().int('must be an integer').min(1000).max(3000).nullable().optional(),
  /** Admins may create albums for any artist; musicians default to their own artist. */
  artistId: ZUuid.optional(),
});
export type TCreateAlbumRequest = z.infer<typeof ZCreateAlbumRequest>;

export const ZUpdateAlbumRequest = z
  .strictObject({ title: trimmed(1, 300).optional(), year: z.number().int('must be an integer').min(1000).max(3000).nullable().optional() })
  .refine((v) => Object.keys(v).length > 0, 'needs at least one of title, year');
export type TUpdateAlbumRequest = z.infer<typeof ZUpdateAlbumRequest>;

/** PATCH /api/tracks/:id (owner or admin). `artist`/`album` are names, found or created under the owner. */
export const ZUpdateTrackRequest = z
  .strictObject({
    title: trimmed(1, 300).optional(),
    artist: trimmed(1, 200).optional(),
    album: trimmed(1, 300).nullable().optional(),
    genre: trimmed(1, 100).nullable().optional(),
    trackNumber: z.number().int('must be an integer').min(1).max(9999).nullable().optional(),
    year: z.number().int('must be an integer').min(1000).max(3000).nullable().optional(),
  })
  .refine((v) => Object.keys(v).length > 0, 'needs at least one field to change');
export type TUpdateTrackRequest = z.infer<typeof ZUpdateTrackRequest>;

// ---- playlists -----------------------------------------------------------------------------

export const ZCreatePlaylistRequest = z.strictObject({
  name: trimmed(1, 200),
  description: z.string().trim().max(2000, 'must be at most 2000 characters').nullable().optional(),
  isPublic: z.boolean().default(false),
});
export type TCreatePlaylistRequest = z.infer<typeof ZCreatePlaylistRequest>;

export const ZUpdatePlaylistRequest = z
  .strictObject({
    name: trimmed(1, 200).optional(),
    description: z.string().trim().max(2000, 'must be at most 2000 characters').nullable().optional(),
    isPublic: z.boolean().optional(),
  })
  .refine((v) => Object.keys(v).length > 0, 'needs at least one of name, description, isPublic');
export type TUpdatePlaylistRequest = z.infer<typeof ZUpdatePlaylistRequest>;

export const MAX_PLAYLIST_ITEMS = 10_000;

export const ZAddPlaylistItemRequest = z.strictObject({
  trackId: ZUuid,
  /** 0-based; omitted appends. */
  position: z.number().int('must be an integer').min(0, 'must be 0 or more').max(MAX_PLAYLIST_ITEMS).optional(),
});
export type TAddPlaylistItemRequest = z.infer<typeof ZAddPlaylistItemRequest>;

export const ZMovePlaylistItemRequest = z.strictObject({
  position: z.number().int('must be an integer').min(0, 'must be 0 or more').max(MAX_PLAYLIST_ITEMS),
});
export type TMovePlaylistItemRequest = z.infer<typeof ZMovePlaylistItemRequest>;

export const ZPlaylistItem = z.object({ itemId: ZUuid, position: z.number(), addedAt: z.string(), track: ZTrack });

export const ZPlaylist = z.object({
  id: ZUuid,
  ownerId: ZUuid,
  ownerName: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  isPublic: z.boolean(),
  itemCount: z.number(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type TPlaylist = z.infer<typeof ZPlaylist>;

export const ZIdParams = z.strictObject({ id: ZUuid });
export const ZPlaylistItemParams = z.strictObject({ id: ZUuid, itemId: ZUuid });
