import { Section } from '../components/Section';
import { TrackList } from '../components/TrackList';
import { toPlaylist } from '../lib/types';
import { useApi } from '../lib/use-api';
import { playList } from '../player/engine';

export function PlaylistPage({ id }: { id: string }) {
  const r = useApi(`/api/playlists/${encodeURIComponent(id)}`, toPlaylist);
  return (
    <div class="page">
      <p class="muted">Playlist</p>
      <h1 tabIndex={-1} data-testid="playlist-name">{r.data?.name ?? '\u00a0'}</h1>
      {r.data && r.data.tracks.length > 0 && (
        <button class="btn" onClick={() => void playList(r.data!.tracks, 0)}>
          Play
        </button>
      )}
      <Section title="Tracks" isLoading={r.isLoading} error={r.error} empty={r.data?.tracks.length === 0 && 'This playlist is empty. Add tracks with the + button on any track.'} testId="playlist-tracks">
        {r.data && <TrackList tracks={r.data.tracks} label="Playlist tracks" />}
      </Section>
    </div>
  );
}
