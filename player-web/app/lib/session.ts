/**
 * Who is signed in, what they like and which playlists they own. Loaded once at start and refreshed after
 * sign in/out; likes are optimistic (the heart flips at once, and flips back with a toast if the server says no).
 */
import { api, ApiError, errorText } from './api';
import { createStore } from './store';
import { listOf, toPlaylist, toTracks, type Me, type Playlist, type Track } from './types';
import { toast } from './toast';

export const meStore = createStore<Me | null | undefined>(undefined); // undefined = still loading
export const likesStore = createStore<Map<string, Track>>(new Map());
export const playlistsStore = createStore<Playlist[]>([]);

function toMe(raw: unknown): Me | null {
  const o = (raw ?? {}) as Record<string, unknown>;
  const u = (o.user && typeof o.user === 'object' ? o.user : o) as Record<string, unknown>;
  if (typeof u.id !== 'string' && typeof u.id !== 'number') return null;
  return {
    id: String(u.id),
    email: String(u.email ?? ''),
    displayName: String(u.displayName ?? u.email ?? 'You'),
    role: String(u.role ?? 'listener'),
    artistId: u.artistId ? String(u.artistId) : undefined,
  };
}

export async function loadSession(): Promise<void> {
  try {
    meStore.set(toMe(await api('/api/me')));
  } catch (e) {
    meStore.set(null);
    if (!(e instanceof ApiError) || (e.status !== 401 && e.status !== 404)) console.warn('session', e);
  }
  if (meStore.get()) await Promise.all([loadLikes(), loadPlaylists()]);
  else {
    likesStore.set(new Map());
    playlistsStore.set([]);
  }
}

export async function loadLikes(): Promise<void> {
  try {
    const tracks = toTracks(await api('/api/me/likes?limit=100'), 'likes');
    likesStore.set(new Map(tracks.map((t) => [t.id, t])));
  } catch (e) {
    console.warn('likes', e);
  }
}

export async function loadPlaylists(): Promise<void> {
  try {
    playlistsStore.set(listOf(await api('/api/me/playlists?limit=100'), 'playlists').map(toPlaylist).filter((p) => p.id));
  } catch (e) {
    console.warn('playlists', e);
  }
}

export async function signIn(email: string, password: string): Promise<void> {
  await api('/api/auth/login', { method: 'POST', body: { email, password } });
  await loadSession();
}

export async function signUp(input: { email: string; password: string; displayName: string; role: 'listener' | 'musician' }): Promise<void> {
  await api('/api/auth/signup', { method: 'POST', body: input });
  await loadSession();
}

export async function signOut(): Promise<void> {
  try {
    await api('/api/auth/logout', { method: 'POST' });
  } finally {
    await loadSession();
  }
}

export async function toggleLike(track: Track): Promise<void> {
  if (!meStore.get()) {
    toast('Sign in to like tracks.');
    return;
  }
  const wasLiked = likesStore.get().has(track.id);
  const flip = (liked: boolean) =>
    likesStore.set((m) => {
      const next = new Map(m);
      if (liked) next.set(track.id, track);
      else next.delete(track.id);
      return next;
    });
  flip(!wasLiked);
  try {
    await api(`/api/tracks/${encodeURIComponent(track.id)}/like`, { method: wasLiked ? 'DELETE' : 'PUT' });
  } catch (e) {
    flip(wasLiked);
    toast(errorText(e));
  }
}

export async function createPlaylist(name: string): Promise<Playlist> {
  const p = toPlaylist(await api('/api/playlists', { method: 'POST', body: { name } }));
  playlistsStore.set((l) => [...l, p]);
  return p;
}

export async function addToPlaylist(playlistId: string, track: Track): Promise<void> {
  await api(`/api/playlists/${encodeURIComponent(playlistId)}/tracks`, { method: 'POST', body: { trackId: track.id } });
  playlistsStore.set((l) => l.map((p) => (p.id === playlistId ? { ...p, tracks: [...p.tracks, track], trackCount: (p.trackCount ?? 0) + 1 } : p)));
}
