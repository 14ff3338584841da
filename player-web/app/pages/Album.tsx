/**
 * Album page. With an album id it reads GET /api/albums/:id; tracks without album ids link here by name
 * (/album/-?name=&artist=), and the page gathers that album's tracks from search. Tracks are in album order,
 * so "play album" gives the player consecutive tracks to buffer ahead (gapless attempt).
 */
import { Section } from '../components/Section';
import { TrackList } from '../components/TrackList';
import { locationStore } from '../lib/router';
import { useStore } from '../lib/store';
import { toTracks, type Track } from '../lib/types';
import { useApi } from '../lib/use-api';
import { playList } from '../player/engine';
import { Cover } from '../components/Cover';

export function Album({ id }: { id: string }) {
  const loc = useStore(locationStore);
  const byName = id === '-';
  const name = loc.query.get('name') ?? '';
  const artist = loc.query.get('artist') ?? '';
  const r = useApi(
    byName ? `/api/tracks?q=${encodeURIComponent(name)}&limit=100` : `/api/albums/${encodeURIComponent(id)}`,
    (raw): { title: string; artist: string; tracks: Track[] } => {
      if (byName) {
        const tracks = toTracks(raw).filter((t) => t.album === name && (!artist || t.artist === artist));
        return { title: name, artist, tracks };
      }
      const o = (raw ?? {}) as Record<string, unknown>;
      const tracks = toTracks(o.tracks ?? []);
      return { title: String(o.title ?? tracks[0]?.album ?? 'Album'), artist: String(o.artist ?? tracks[0]?.artist ?? ''), tracks };
    },
    [name, artist],
  );
  const tracks = (r.data?.tracks ?? []).slice().sort((a, b) => (a.trackNumber ?? 0) - (b.trackNumber ?? 0) || (a.createdAt ?? '').localeCompare(b.createdAt ?? ''));
  return (
    <div class="page">
      <header class="hero">
        {tracks[0] ? <Cover track={tracks[0]} size={300} px={160} /> : <span class="cover" style={{ width: '160px', height: '160px' }} />}
        <div>
          <p class="muted">Album</p>
          <h1 tabIndex={-1}>{r.data?.title ?? '\u00a0'}</h1>
          <p>{r.data?.artist}</p>
          {tracks.length > 0 && (
            <button class="btn" data-testid="play-album" onClick={() => void playList(tracks, 0)}>
              Play album
            </button>
          )}
        </div>
      </header>
      <Section title="Tracks" isLoading={r.isLoading} error={r.error} empty={r.data?.tracks.length === 0 && 'No tracks found for this album.'}>
        {r.data && <TrackList tracks={tracks} label="Album tracks" showAlbum={false} numbered />}
      </Section>
    </div>
  );
}
