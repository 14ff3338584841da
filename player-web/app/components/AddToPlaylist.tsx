/** Modal dialog (native <dialog>: focus trap and Escape for free) to add a track to one of the user's playlists. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { errorText } from '../lib/api';
import { addToPlaylist, createPlaylist, meStore, playlistsStore } from '../lib/session';
import { useStore } from '../lib/store';
import { toast } from '../lib/toast';
import type { Track } from '../lib/types';

export function AddToPlaylistDialog({ track, onClose }: { track: Track; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const playlists = useStore(playlistsStore);
  const me = useStore(meStore);
  const [name, setName] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
  }, []);
  const add = async (id: string, label: string) => {
    setBusy(true);
    try {
      await addToPlaylist(id, track);
      toast(`Added “${track.title}” to ${label}.`);
      onClose();
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <dialog ref={ref} class="dialog" aria-labelledby="atp-title" onClose={onClose} data-testid="add-to-playlist-dialog">
      <h2 id="atp-title">Add “{track.title}” to a playlist</h2>
      {!me ? (
        <p>
          <a href="/login">Sign in</a> to make playlists.
        </p>
      ) : (
        <>
          {playlists.length > 0 && (
            <ul class="plain-list">
              {playlists.map((p) => (
                <li key={p.id}>
                  <button class="btn-row" disabled={busy} data-testid="playlist-choice" onClick={() => void add(p.id, p.name)}>
                    {p.name}
                  </button>
                </li>
              ))}
            </ul>
          )}
          <form
            class="inline-form"
            onSubmit={async (e) => {
              e.preventDefault();
              if (!name.trim()) return setError('Give the playlist a name.');
              setBusy(true);
              try {
                const p = await createPlaylist(name.trim());
                await add(p.id, p.name);
              } catch (err) {
                setError(errorText(err));
                setBusy(false);
              }
            }}
          >
            <label for="new-playlist">New playlist</label>
            <input id="new-playlist" data-testid="new-playlist-name" value={name} onInput={(e) => setName(e.currentTarget.value)} placeholder="Name" />
            <button type="submit" class="btn" disabled={busy} data-testid="create-playlist">
              Create and add
            </button>
          </form>
        </>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <button class="btn ghost" onClick={() => ref.current?.close()}>
        Close
      </button>
    </dialog>
  );
}
