/** Artist page: name and bio (GET /api/artists/:id), their tracks (GET /api/tracks?artistId=) grouped by album. */
import { Section } from '../components/Section';
import { TrackList } from '../components/TrackList';
import { toTracks, type Track } from '../lib/types';
import { useApi } from '../lib/use-api';

export function Artist({ id }: { id: string }) {
  const a = useApi(`/api/artists/${encodeURIComponent(id)}`, (raw) => {
    const o = (raw ?? {}) as Record<string, unknown>;
    const inner = (o.artist && typeof o.artist === 'object' ? o.artist : o) as Record<string, unknown>;
    return { name: String(inner.name ?? 'Artist'), bio: typeof inner.bio === 'string' ? inner.bio : undefined };
  });
  const t = useApi(`/api/tracks?artistId=${encodeURIComponent(id)}&limit=100`, (r) => toTracks(r));
  const albums = new Map<string, Track[]>();
  for (const tr of t.data ?? []) albums.set(tr.album ?? 'Singles', [...(albums.get(tr.album ?? 'Singles') ?? []), tr]);
  return (
    <div class="page">
      <p class="muted">Artist</p>
      <h1 tabIndex={-1}>{a.data?.name ?? (a.isLoading ? '\u00a0' : 'Artist')}</h1>
      {a.data?.bio && <p>{a.data.bio}</p>}
      {(a.error || t.error) && (
        <p class="error" role="alert">
          {a.error ?? t.error}
        </p>
      )}
      {t.isLoading && <Section title="Tracks" isLoading />}
      {[...albums].map(([album, tracks]) => (
        <Section key={album} title={album}>
          <TrackList tracks={tracks.sort((x, y) => (x.trackNumber ?? 0) - (y.trackNumber ?? 0))} label={album} showAlbum={false} />
        </Section>
      ))}
      {t.data && !t.data.length && <p class="muted">No published tracks yet.</p>}
    </div>
  );
}
