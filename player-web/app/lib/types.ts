/**
 * The shapes the app reads from the API (CONTRACT.md), kept loose where sibling services may extend them:
 * `artist` may arrive as a name or as {id, name}; list endpoints may answer an array or {items|tracks}.
 * Normalizers below turn whatever arrives into one Track shape so components stay simple.
 */
export interface Loudness {
  integratedLufs?: number;
  truePeakDb?: number;
  gainDb?: number;
}

export interface Rendition {
  codec: string;
  bitrateKbps?: number;
  container?: string;
}

export interface Track {
  id: string;
  title: string;
  artist: string;
  artistId?: string;
  album?: string;
  albumId?: string;
  genre?: string;
  trackNumber?: number;
  durationMs?: number;
  status?: 'processing' | 'ready' | 'failed' | string;
  error?: { code: string; detail: string };
  renditions?: Rendition[];
  loudness?: Loudness;
  hasCover?: boolean;
  /** Changes with the cover; on the URL it makes the image immutable (a replaced cover is a new URL). */
  coverVersion?: string;
  createdAt?: string;
  plays?: number;
  reason?: string;
}

export interface Playlist {
  id: string;
  name: string;
  tracks: Track[];
  trackCount?: number;
}

export interface Me {
  id: string;
  email: string;
  displayName: string;
  role: 'listener' | 'musician' | 'admin' | string;
  artistId?: string;
}

export interface Playback {
  hls: string;
  dash?: string;
  expiresAt?: string | number;
}

type Obj = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

export function toTrack(raw: unknown): Track {
  let o = (raw ?? {}) as Obj;
  // Playlist items and likes wrap the track: {itemId, position, track} / {likedAt, track}.
  if (o.track && typeof o.track === 'object') o = o.track as Obj;
  const artistObj = typeof o.artist === 'object' && o.artist ? (o.artist as Obj) : undefined;
  const albumObj = typeof o.album === 'object' && o.album ? (o.album as Obj) : undefined;
  return {
    id: str(o.id) ?? str(o.trackId) ?? '',
    title: str(o.title) ?? 'Untitled',
    artist: str(artistObj?.name) ?? str(o.artist) ?? str(o.artistName) ?? 'Unknown artist',
    artistId: str(artistObj?.id) ?? str(o.artistId),
    album: str(albumObj?.title) ?? str(albumObj?.name) ?? str(o.album) ?? str(o.albumTitle),
    albumId: str(albumObj?.id) ?? str(o.albumId),
    genre: str(o.genre),
    trackNumber: num(o.trackNumber) ?? num(o.position),
    durationMs: num(o.durationMs),
    status: str(o.status),
    error: o.error && typeof o.error === 'object' ? (o.error as Track['error']) : undefined,
    renditions: Array.isArray(o.renditions) ? (o.renditions as Rendition[]) : undefined,
    loudness: o.loudness && typeof o.loudness === 'object' ? (o.loudness as Loudness) : undefined,
    hasCover: typeof o.hasCover === 'boolean' ? o.hasCover : typeof o.coverUrl === 'string' ? true : undefined,
    coverVersion: str(o.coverVersion),
    createdAt: str(o.createdAt) ?? str(o.publishedAt),
    plays: num(o.plays),
    reason: str(o.reason),
  };
}

/** Lists arrive as arrays or wrapped ({items}, {tracks}, {playlists}, {data}). */
export function listOf(raw: unknown, ...keys: string[]): unknown[] {
  if (Array.isArray(raw)) return raw;
  const o = (raw ?? {}) as Obj;
  for (const k of [...keys, 'items', 'tracks', 'data', 'results']) if (Array.isArray(o[k])) return o[k] as unknown[];
  return [];
}

export function toTracks(raw: unknown, ...keys: string[]): Track[] {
  return listOf(raw, ...keys).map(toTrack).filter((t) => t.id);
}

export function toPlaylist(raw: unknown): Playlist {
  const o = (raw ?? {}) as Obj;
  const inner = (o.playlist && typeof o.playlist === 'object' ? o.playlist : o) as Obj;
  const tracks = toTracks(o.tracks ?? o.items ?? inner.items ?? []);
  return {
    id: str(inner.id) ?? '',
    name: str(inner.name) ?? str(inner.title) ?? 'Playlist',
    tracks,
    trackCount: num(inner.itemCount) ?? num(inner.trackCount) ?? tracks.length,
  };
}

export function formatTime(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return '–:––';
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

export function coverUrl(t: Pick<Track, 'id' | 'coverVersion'>, size: 96 | 300 | 600 = 96): string {
  const v = t.coverVersion ? `&v=${encodeURIComponent(t.coverVersion)}` : '';
  return `/api/tracks/${encodeURIComponent(t.id)}/cover?size=${size}${v}`;
}
