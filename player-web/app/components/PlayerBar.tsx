/** The persistent player bar (outside the routed page, so navigation never interrupts playback). */
import { useState } from 'preact/hooks';
import {
  cycleRepeat,
  jumpTo,
  next,
  playerStore,
  previous,
  removeFromQueue,
  seek,
  setEngine,
  setNormalize,
  setQuality,
  setVolume,
  toggleMute,
  togglePlay,
  toggleShuffle,
  ENGINE_LABELS,
  type Engine,
} from '../player/engine';
import { QUALITY_LABELS, type Quality } from '../player/quality';
import { likesStore, toggleLike } from '../lib/session';
import { useStore } from '../lib/store';
import { formatTime } from '../lib/types';
import { Cover } from './Cover';
import { Icon } from './Icon';
import { Waveform } from './Waveform';
import { albumHref } from './TrackList';

export function PlayerBar() {
  const s = useStore(playerStore);
  const likes = useStore(likesStore);
  const [showQueue, setShowQueue] = useState(false);
  const [showSettings, setShowSettings] = useState(false);
  const t = s.current;
  const liked = !!t && likes.has(t.id);
  return (
    <section class="player" aria-label="Player" data-testid="player-bar">
      <div class="player-now">
        {t ? <Cover key={t.id} track={t} px={48} /> : <span class="cover empty" style={{ width: '48px', height: '48px' }} />}
        <div class="player-meta">
          <div class="player-title" data-testid="player-title" aria-live="polite">
            {t ? t.title : 'Nothing playing'}
          </div>
          <div class="player-artist">
            {t && (t.artistId ? <a href={`/artist/${encodeURIComponent(t.artistId)}`}>{t.artist}</a> : t.artist)}
            {t?.album && (
              <>
                {' · '}
                <a href={albumHref(t)}>{t.album}</a>
              </>
            )}
          </div>
        </div>
        {t && (
          <button class="icon-btn" data-testid="player-like" aria-pressed={liked} aria-label={liked ? 'Unlike' : 'Like'} onClick={() => void toggleLike(t)}>
            <Icon name={liked ? 'heart-fill' : 'heart'} />
          </button>
        )}
      </div>
      <div class="player-center">
        <div class="player-controls">
          <button class={`icon-btn small${s.shuffle ? ' on' : ''}`} data-testid="shuffle" aria-pressed={s.shuffle} aria-label="Shuffle" onClick={toggleShuffle} title="Shuffle (S)">
            <Icon name="shuffle" />
          </button>
          <button class="icon-btn" data-testid="prev" aria-label="Previous track" onClick={previous} title="Previous (Shift+←)">
            <Icon name="prev" />
          </button>
          <button class="play-btn" data-testid="play-pause" aria-label={s.isPlaying ? 'Pause' : 'Play'} onClick={togglePlay} disabled={!t} title="Play/pause (Space)">
            <Icon name={s.isPlaying ? 'pause' : 'play'} />
            {s.isLoading && <span class="spinner" aria-hidden="true" />}
          </button>
          <button class="icon-btn" data-testid="next" aria-label="Next track" onClick={next} title="Next (Shift+→)">
            <Icon name="next" />
          </button>
          <button
            class={`icon-btn small${s.repeat !== 'off' ? ' on' : ''}`}
            data-testid="repeat"
            aria-label={`Repeat: ${s.repeat === 'off' ? 'off' : s.repeat === 'all' ? 'all' : 'one track'}`}
            onClick={cycleRepeat}
            title="Repeat (R)"
          >
            <Icon name={s.repeat === 'one' ? 'repeat-one' : 'repeat'} />
          </button>
        </div>
        <div class="player-seek">
          <span class="time" data-testid="position">{formatTime(s.positionSec * 1000)}</span>
          <Waveform trackId={t?.id} position={s.positionSec} duration={s.durationSec} buffered={s.bufferedSec} onSeek={seek} />
          <span class="time" data-testid="duration">{formatTime(s.durationSec * 1000)}</span>
        </div>
      </div>
      <div class="player-right">
        <span class="rendition" data-testid="rendition" title="What is playing now">
          {s.rendition ? `${s.rendition.codec.split('.')[0].replace('mp4a', 'AAC').replace('fLaC', 'FLAC').toUpperCase()} ${s.family === 'flac' ? '' : s.rendition.bitrateKbps + 'k'}` : ''}
        </span>
        <button class="icon-btn" data-testid="settings-toggle" aria-expanded={showSettings} aria-controls="player-settings" aria-label="Playback settings" onClick={() => setShowSettings((v) => !v)}>
          <svg viewBox="0 0 24 24" width="24" height="24" aria-hidden="true"><path fill="currentColor" d="M3 17v2h6v-2H3zM3 5v2h10V5H3zm10 16v-2h8v-2h-8v-2h-2v6h2zM7 9v2H3v2h4v2h2V9H7zm14 4v-2H11v2h10zm-6-4h2V7h4V5h-4V3h-2v6z"/></svg>
        </button>
        <button class="icon-btn" data-testid="queue-toggle" aria-expanded={showQueue} aria-controls="queue-panel" aria-label="Queue" onClick={() => setShowQueue((v) => !v)}>
          <Icon name="queue" />
        </button>
        <button class="icon-btn" data-testid="mute" aria-label={s.isMuted ? 'Unmute' : 'Mute'} onClick={toggleMute} title="Mute (M)">
          <Icon name={s.isMuted || s.volume === 0 ? 'mute' : 'volume'} />
        </button>
        <input
          type="range"
          class="volume"
          data-testid="volume"
          aria-label="Volume"
          min={0}
          max={1}
          step={0.01}
          value={s.isMuted ? 0 : s.volume}
          onInput={(e) => setVolume(Number(e.currentTarget.value))}
        />
      </div>
      {showSettings && (
        <div id="player-settings" class="popover settings" role="group" aria-label="Playback settings">
          <label for="quality">Quality</label>
          <select id="quality" data-testid="quality-select" value={s.quality} onChange={(e) => void setQuality(e.currentTarget.value as Quality)}>
            {(Object.keys(QUALITY_LABELS) as Quality[]).map((q) => (
              <option key={q} value={q}>
                {QUALITY_LABELS[q]}
              </option>
            ))}
          </select>
          <label for="engine">Streaming</label>
          <select id="engine" data-testid="engine-select" value={s.engine} onChange={(e) => void setEngine(e.currentTarget.value as Engine)}>
            {(Object.keys(ENGINE_LABELS) as Engine[]).map((k) => (
              <option key={k} value={k}>
                {ENGINE_LABELS[k]}
              </option>
            ))}
          </select>
          <label class="check">
            <input type="checkbox" data-testid="normalize-toggle" checked={s.normalize} onChange={(e) => setNormalize(e.currentTarget.checked)} />
            Normalize loudness {s.normalize && t ? `(${s.gainDb >= 0 ? '+' : ''}${s.gainDb.toFixed(1)} dB)` : ''}
          </label>
          {s.lastStartupMs !== undefined && <p class="muted">Started in {s.lastStartupMs} ms{s.lastGapMs !== undefined ? ` · last gap ${s.lastGapMs} ms` : ''}</p>}
        </div>
      )}
      {showQueue && (
        <div id="queue-panel" class="popover queue" role="region" aria-label="Queue" data-testid="queue-panel">
          <h2>Queue</h2>
          {s.order.length === 0 && <p class="muted">The queue is empty. Play a track or add one with the queue button.</p>}
          <ol>
            {s.order.map((qi, pos) => {
              const q = s.queue[qi];
              if (!q) return null;
              return (
                <li key={`${qi}-${pos}`} class={pos === s.cursor ? 'is-current' : ''}>
                  <button class="btn-row" aria-current={pos === s.cursor ? 'true' : undefined} onClick={() => void jumpTo(pos)}>
                    <span>{q.title}</span>
                    <span class="muted"> · {q.artist}</span>
                  </button>
                  {pos !== s.cursor && (
                    <button class="icon-btn small" aria-label={`Remove ${q.title} from queue`} onClick={() => removeFromQueue(pos)}>
                      <Icon name="close" />
                    </button>
                  )}
                </li>
              );
            })}
          </ol>
        </div>
      )}
      {s.error && (
        <p class="player-error" role="alert" data-testid="player-error">
          {s.error}
        </p>
      )}
    </section>
  );
}
