/** Artist page: name, their tracks (from GET /api/artists/:id, which may embed tracks), grouped by album. */
import { Section } from '../components/Section';
import { TrackList } from '../components/TrackList';
import { toTracks, type Track } from '../lib/types';
import { useApi } from '../lib/use-api';

interface ArtistView {
  name: string;
  tracks: Track[];
  bio?: string;
}

export function Artist({ id }: { id: string }) {
  const a = useApi(`/api/artists/${encodeURIComponent(id)}`, (raw): ArtistView => {
    const o = (raw ?? {}) as Record<string, unknown>;
    const inner = (o.artist && typeof o.artist === 'object' ? o.artist : o) as Record<string, unknown>;
    return { name: String(inner.name ?? inner.displayName ?? 'Artist'), bio: typeof inner.bio === 'string' ? inner.bio : undefined, tracks: toTracks(o.tracks ?? inner.tracks ?? []) };
  });
  const albums = new Map<string, Track[]>();
  for (const t of a.data?.tracks ?? []) albums.set(t.album ?? 'Singles', [...(albums.get(t.album ?? 'Singles') ?? []), t]);
  return (
    <div class="page">
      <h1 tabIndex={-1}>{a.data?.name ?? (a.isLoading ? '\u00a0' : 'Artist')}</h1>
      {a.data?.bio && <p>{a.data.bio}</p>}
      {a.error && (
        <p class="error" role="alert">
          {a.error}
        </p>
      )}
      {a.isLoading && <Section title="Tracks" isLoading />}
      {[...albums].map(([album, tracks]) => (
        <Section key={album} title={album}>
          <TrackList tracks={tracks.sort((x, y) => (x.trackNumber ?? 0) - (y.trackNumber ?? 0))} label={album} showAlbum={false} />
        </Section>
      ))}
      {a.data && !a.data.tracks.length && <p class="muted">No published tracks yet.</p>}
    </div>
  );
}
