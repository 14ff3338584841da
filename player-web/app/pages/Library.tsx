/** The listener's library: liked tracks and playlists (with a form to create one). */
import { useEffect, useState } from 'preact/hooks';
import { Section } from '../components/Section';
import { TrackList } from '../components/TrackList';
import { errorText } from '../lib/api';
import { createPlaylist, likesStore, loadLikes, loadPlaylists, meStore, playlistsStore } from '../lib/session';
import { useStore } from '../lib/store';

export function Library() {
  const me = useStore(meStore);
  const likes = useStore(likesStore);
  const playlists = useStore(playlistsStore);
  const [name, setName] = useState('');
  const [error, setError] = useState('');
  useEffect(() => {
    if (me) void Promise.all([loadLikes(), loadPlaylists()]);
  }, [me?.id]);
  if (me === null)
    return (
      <div class="page">
        <h1 tabIndex={-1}>Your library</h1>
        <p>
          <a href="/login">Sign in</a> to keep liked tracks and playlists.
        </p>
      </div>
    );
  return (
    <div class="page">
      <h1 tabIndex={-1}>Your library</h1>
      <Section title="Playlists" testId="library-playlists">
        <ul class="cards">
          {playlists.map((p) => (
            <li key={p.id}>
              <a class="card" href={`/playlist/${encodeURIComponent(p.id)}`} data-testid="playlist-link">
                <strong>{p.name}</strong>
                <span class="muted">{p.trackCount ?? p.tracks.length} tracks</span>
              </a>
            </li>
          ))}
        </ul>
        <form
          class="inline-form"
          onSubmit={async (e) => {
            e.preventDefault();
            setError('');
            if (!name.trim()) return setError('Give the playlist a name.');
            try {
              await createPlaylist(name.trim());
              setName('');
            } catch (err) {
              setError(errorText(err));
            }
          }}
        >
          <label for="lib-new-playlist">New playlist</label>
          <input id="lib-new-playlist" value={name} onInput={(e) => setName(e.currentTarget.value)} />
          <button class="btn" type="submit">
            Create
          </button>
          {error && (
            <span class="error" role="alert">
              {error}
            </span>
          )}
        </form>
      </Section>
      <Section title="Liked tracks" empty={likes.size === 0 && 'Tracks you like appear here.'} testId="library-likes">
        <TrackList tracks={[...likes.values()]} label="Liked tracks" />
      </Section>
    </div>
  );
}
