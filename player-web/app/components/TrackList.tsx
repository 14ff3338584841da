/** A list of tracks: play on click or Enter, like, queue, add to playlist. Rows prefetch their playback grant on hover. */
import { useState } from 'preact/hooks';
import { enqueue, playerStore, playList, prefetchPlayback } from '../player/engine';
import { likesStore, toggleLike } from '../lib/session';
import { useStore } from '../lib/store';
import { formatTime, type Track } from '../lib/types';
import { Cover } from './Cover';
import { AddToPlaylistDialog } from './AddToPlaylist';
import { Icon } from './Icon';

export function TrackList({ tracks, label, showAlbum = true, numbered = false }: { tracks: Track[]; label: string; showAlbum?: boolean; numbered?: boolean }) {
  const player = useStore(playerStore);
  const likes = useStore(likesStore);
  const [addTarget, setAddTarget] = useState<Track | null>(null);
  if (!tracks.length) return null;
  return (
    <>
      <ol class="tracklist" aria-label={label} data-testid="track-list">
        {tracks.map((t, i) => {
          const isCurrent = player.current?.id === t.id;
          const liked = likes.has(t.id);
          return (
            <li key={t.id + i} class={`track-row${isCurrent ? ' is-current' : ''}`} data-testid="track-row" data-track-id={t.id} onPointerEnter={() => prefetchPlayback(t.id)}>
              <button
                class="track-main"
                data-testid="track-play"
                aria-label={`Play ${t.title} by ${t.artist}`}
                aria-current={isCurrent ? 'true' : undefined}
                onClick={() => void playList(tracks, i)}
              >
                {numbered ? <span class="track-num">{t.trackNumber ?? i + 1}</span> : <Cover track={t} px={40} />}
                <span class="track-text">
                  <span class="track-title" data-testid="track-title">{t.title}</span>
                  <span class="track-sub">
                    {t.artist}
                    {showAlbum && t.album ? ` · ${t.album}` : ''}
                  </span>
                </span>
                {isCurrent && player.isPlaying && <Icon name="eq" label="Now playing" />}
              </button>
              <span class="track-links">
                {t.artistId && (
                  <a href={`/artist/${encodeURIComponent(t.artistId)}`} class="sr-link">
                    {t.artist}
                  </a>
                )}
                {t.album && (
                  <a href={albumHref(t)} class="sr-link">
                    {t.album}
                  </a>
                )}
              </span>
              <span class="track-dur">{formatTime(t.durationMs)}</span>
              <button class="icon-btn" data-testid="like-button" aria-pressed={liked} aria-label={liked ? `Unlike ${t.title}` : `Like ${t.title}`} onClick={() => void toggleLike(t)}>
                <Icon name={liked ? 'heart-fill' : 'heart'} />
              </button>
              <button class="icon-btn" data-testid="queue-add" aria-label={`Add ${t.title} to queue`} onClick={() => enqueue(t)}>
                <Icon name="queue-add" />
              </button>
              <button class="icon-btn" data-testid="add-to-playlist" aria-label={`Add ${t.title} to a playlist`} onClick={() => setAddTarget(t)}>
                <Icon name="plus" />
              </button>
            </li>
          );
        })}
      </ol>
      {addTarget && <AddToPlaylistDialog track={addTarget} onClose={() => setAddTarget(null)} />}
    </>
  );
}

export function albumHref(t: Track): string {
  if (t.albumId) return `/album/${encodeURIComponent(t.albumId)}`;
  const q = new URLSearchParams({ name: t.album ?? '', artist: t.artist });
  return `/album/-?${q}`;
}
