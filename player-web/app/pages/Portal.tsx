/**
 * Musician portal: drop several WAV/FLAC files (or pick them), each uploads resumably through tus
 * (lib/upload.ts: retries a dropped connection, continues after a reload when the same file is chosen again)
 * with its own progress bar, then its processing status is followed live (GET /api/tracks/:id/status until
 * ready or failed). Below, the musician's own tracks: edit title/artist/album/genre, replace the audio, replace
 * or remove the cover (PUT/DELETE /api/tracks/:id/cover), delete. Every error shown is the server's
 * problem+json `detail`.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, errorText } from '../lib/api';
import { meStore } from '../lib/session';
import { useStore } from '../lib/store';
import { toast } from '../lib/toast';
import { coverUrl, formatTime, toTrack, toTracks, type Track } from '../lib/types';
import { forgetUpload, unfinishedUploads, uploadTrack, type UnfinishedUpload } from '../lib/upload';
import { Cover } from '../components/Cover';
import { Icon } from '../components/Icon';

interface Job {
  key: number;
  file: File;
  progress: number;
  phase: 'uploading' | 'processing' | 'ready' | 'failed';
  /** packager stage and percent while processing (GET /api/tracks/:id/status) */
  stage?: string;
  percent?: number;
  trackId?: string;
  error?: string;
  /** the server's notices (e.g. the 5.1 downmix), shown on the row */
  notices?: string[];
  /** connection trouble while uploading (retrying, offline, resumed) */
  connection?: string;
  abort?: AbortController;
}

let jobKey = 1;

/** A failed row keeps the bar where it stopped (drawn red by `.job.failed`), never a full "done" bar. */
function jobFraction(j: Job): number {
  if (j.phase === 'ready') return 1;
  if (j.phase === 'uploading' || (j.phase === 'failed' && !j.trackId)) return j.progress;
  return (j.percent ?? 0) / 100;
}

export function Portal() {
  const me = useStore(meStore);
  // useStore subscribes in an effect, after paint: a session that finished loading between this page's first
  // render and that subscription would be missed, and the page would never load the musician's tracks.
  // Re-read once the subscription is in place (effects run in order, useStore's first).
  const [, recheckMe] = useState(0);
  useEffect(() => {
    if (!Object.is(meStore.get(), me)) recheckMe((n) => n + 1);
  }, []);
  const [jobs, setJobs] = useState<Job[]>([]);
  const [meta, setMeta] = useState({ artist: '', album: '', genre: '' });
  const [cover, setCover] = useState<File | undefined>();
  const [isOver, setIsOver] = useState(false);
  const [tracks, setTracks] = useState<Track[] | undefined>();
  const [listError, setListError] = useState('');
  const [coverVersions, setCoverVersions] = useState<Record<string, string>>({});
  const [unfinished, setUnfinished] = useState<UnfinishedUpload[]>([]);
  const fileInput = useRef<HTMLInputElement>(null);

  const loadTracks = async () => {
    try {
      const raw = await api<{ tracks?: Array<{ id?: string; coverVersion?: string }> }>('/api/me/tracks?limit=200');
      setTracks(toTracks(raw));
      setCoverVersions(Object.fromEntries((raw.tracks ?? []).filter((t) => t.id && t.coverVersion).map((t) => [t.id!, t.coverVersion!])));
      setListError('');
    } catch (e) {
      setListError(errorText(e));
    }
  };
  const loadUnfinished = () => void unfinishedUploads().then(setUnfinished, () => setUnfinished([]));
  useEffect(() => {
    if (!me) return;
    void loadTracks();
    if (me.role !== 'listener') loadUnfinished();
  }, [me?.id]);

  const update = (key: number, p: Partial<Job>) => setJobs((l) => l.map((j) => (j.key === key ? { ...j, ...p } : j)));

  // Polling rather than one EventSource per file: browsers allow 6 connections per host over HTTP/1.1, and
  // several uploads plus several open event streams would starve the page's other requests.
  const follow = async (key: number, id: string) => {
    for (let i = 0; i < 1200; i++) {
      await new Promise((r) => setTimeout(r, i < 60 ? 1000 : 3000));
      try {
        const raw = (await api(`/api/tracks/${encodeURIComponent(id)}/status`)) as { progress?: { stage?: string; percent?: number } };
        const t = toTrack(raw);
        if (t.status === 'ready') {
          update(key, { phase: 'ready', stage: 'ready', percent: 100 });
          void loadTracks();
          return;
        }
        if (t.status === 'failed') {
          update(key, { phase: 'failed', error: t.error?.detail ?? 'Processing failed.' });
          void loadTracks();
          return;
        }
        update(key, { stage: raw.progress?.stage, percent: raw.progress?.percent });
      } catch (e) {
        if (i > 5) {
          update(key, { phase: 'failed', error: errorText(e) });
          return;
        }
      }
    }
  };

  const start = (files: File[]) => {
    // Only what the musician typed: the server fills blank fields from the file's tags, then the file name
    // (ingest/README.md), so sending the file name or the display name here would override the tags.
    // Titles are per file, so none is sent (tags, then file name); edit one below once uploaded.
    const fields = { artist: meta.artist.trim(), album: meta.album.trim(), genre: meta.genre.trim() };
    const newJobs: Job[] = files.map((file) => ({ key: jobKey++, file, progress: 0, phase: 'uploading', abort: new AbortController() }));
    setJobs((l) => [...newJobs, ...l]);
    const coverFile = cover;
    // Two uploads at a time: several big files in parallel only split the same uplink.
    let next = 0;
    const worker = async () => {
      while (next < newJobs.length) {
        const job = newJobs[next++];
        if (job.abort?.signal.aborted) continue;
        try {
          const res = await uploadTrack(job.file, fields, {
            onProgress: (f) => update(job.key, { progress: f }),
            onConnection: (_state, detail) => update(job.key, { connection: detail }),
            signal: job.abort?.signal,
          });
          const notices = [...res.notices];
          // tus carries one file: the cover follows on the new track (the audio is not touched by it).
          if (coverFile) {
            const fd = new FormData();
            fd.append('cover', coverFile, coverFile.name);
            try {
              await api(`/api/tracks/${encodeURIComponent(res.id)}/cover`, { method: 'PUT', body: fd });
            } catch (e) {
              notices.push(`The track was uploaded, but the cover was not used: ${errorText(e)}`);
            }
          }
          update(job.key, { phase: 'processing', trackId: res.id, progress: 1, notices, connection: undefined });
          void follow(job.key, res.id);
        } catch (e) {
          update(job.key, { phase: 'failed', error: errorText(e), connection: undefined });
        }
      }
      loadUnfinished();
    };
    void Promise.all([worker(), worker()]);
  };

  if (me === null)
    return (
      <div class="page">
        <h1 tabIndex={-1}>Musician portal</h1>
        <p>
          <a href="/login">Log in</a> or <a href="/signup">create a musician account</a> to upload music.
        </p>
      </div>
    );
  if (me && me.role === 'listener')
    return (
      <div class="page">
        <h1 tabIndex={-1}>Musician portal</h1>
        <p>This account is a listener account. Create a musician account to upload music.</p>
      </div>
    );

  return (
    <div class="page">
      <h1 tabIndex={-1}>Musician portal</h1>
      <section class="section" aria-labelledby="up-h">
        <h2 id="up-h">Upload</h2>
        <div class="grid-3">
          <label>
            Artist
            <input data-testid="upload-artist" value={meta.artist} placeholder="from the file's tags" onInput={(e) => setMeta((m) => ({ ...m, artist: e.currentTarget.value }))} />
          </label>
          <label>
            Album
            <input data-testid="upload-album" value={meta.album} placeholder="from the file's tags" onInput={(e) => setMeta((m) => ({ ...m, album: e.currentTarget.value }))} />
          </label>
          <label>
            Genre
            <input data-testid="upload-genre" value={meta.genre} placeholder="from the file's tags" onInput={(e) => setMeta((m) => ({ ...m, genre: e.currentTarget.value }))} />
          </label>
          <label>
            Cover image (optional)
            <input type="file" accept="image/*" data-testid="upload-cover" onChange={(e) => setCover(e.currentTarget.files?.[0])} />
          </label>
        </div>
        <div
          class={`dropzone${isOver ? ' over' : ''}`}
          data-testid="dropzone"
          role="button"
          tabIndex={0}
          aria-describedby="dz-hint"
          onClick={() => fileInput.current?.click()}
          onKeyDown={(e) => (e.key === 'Enter' || e.key === ' ') && (e.preventDefault(), fileInput.current?.click())}
          onDragOver={(e) => {
            e.preventDefault();
            setIsOver(true);
          }}
          onDragLeave={() => setIsOver(false)}
          onDrop={(e) => {
            e.preventDefault();
            setIsOver(false);
            const files = [...(e.dataTransfer?.files ?? [])];
            if (files.length) start(files);
          }}
        >
          <Icon name="upload" />
          <span>Drop WAV or FLAC files here, or press to choose</span>
          <span id="dz-hint" class="muted">
            Several files at once are fine; each gets its own progress.
          </span>
          <input
            ref={fileInput}
            type="file"
            multiple
            accept=".wav,.flac,audio/wav,audio/x-wav,audio/flac"
            class="sr-only"
            data-testid="file-input"
            tabIndex={-1}
            onChange={(e) => {
              const files = [...(e.currentTarget.files ?? [])];
              e.currentTarget.value = '';
              if (files.length) start(files);
            }}
          />
        </div>
        {unfinished.length > 0 && (
          <div class="unfinished" data-testid="unfinished-uploads" role="region" aria-label="Interrupted uploads">
            <p class="muted">Interrupted uploads: choose or drop the same file again to continue where it stopped.</p>
            <ul class="jobs">
              {unfinished.map((u) => (
                <li key={u.key} class="job" data-testid="unfinished-upload">
                  <span class="job-name">{u.fileName}</span>
                  <progress max={1} value={u.size && u.offset !== undefined ? u.offset / u.size : 0} aria-label={`${u.fileName} uploaded so far`} />
                  <span class="row">
                    <span class="job-status">{u.size && u.offset !== undefined ? `Stopped at ${Math.floor((u.offset / u.size) * 100)}%` : 'Stopped'}</span>
                    <button class="btn ghost" type="button" aria-label={`Forget the interrupted upload of ${u.fileName}`} onClick={() => void forgetUpload(u.key).then(loadUnfinished)}>
                      Forget
                    </button>
                  </span>
                </li>
              ))}
            </ul>
          </div>
        )}
        {jobs.length > 0 && (
          <ul class="jobs" aria-label="Uploads" data-testid="upload-jobs">
            {jobs.map((j) => (
              <li key={j.key} class={`job ${j.phase}`} data-testid="upload-job" data-phase={j.phase} data-track-id={j.trackId}>
                <span class="job-name">{j.file.name}</span>
                <progress max={1} value={jobFraction(j)} aria-label={`${j.file.name} progress`} />
                <span class="row">
                  <span class="job-status" data-testid="upload-status">
                    {j.phase === 'uploading' ? `Uploading ${Math.round(j.progress * 100)}%` : j.phase === 'processing' ? `Processing${j.stage ? ` (${j.stage}${j.percent !== undefined ? ` ${Math.round(j.percent)}%` : ''})` : '…'}` : j.phase === 'ready' ? 'Ready' : j.trackId ? 'Processing failed' : 'Upload failed'}
                  </span>
                  {j.phase === 'uploading' && (
                    <button class="btn ghost" type="button" data-testid="upload-cancel" aria-label={`Cancel the upload of ${j.file.name}`} onClick={() => j.abort?.abort()}>
                      Cancel
                    </button>
                  )}
                </span>
                {j.phase === 'uploading' && j.connection && (
                  <p class="notice" role="status" data-testid="upload-connection">
                    {j.connection}
                  </p>
                )}
                {j.notices?.map((n) => (
                  <p key={n} class="notice" data-testid="upload-notice">
                    {n}
                  </p>
                ))}
                {j.error && (
                  <p class="error" role="alert" data-testid="upload-error">
                    {j.error}
                  </p>
                )}
              </li>
            ))}
          </ul>
        )}
      </section>
      <section class="section" aria-labelledby="mine-h">
        <h2 id="mine-h">Your tracks</h2>
        {listError && (
          <p class="error" role="alert">
            {listError}
          </p>
        )}
        {tracks && !tracks.length && <p class="muted">No tracks yet.</p>}
        <ul class="my-tracks" data-testid="my-tracks">
          {tracks?.map((t) => <MyTrack key={t.id} track={t} coverVersion={coverVersions[t.id]} onChange={loadTracks} />)}
        </ul>
      </section>
    </div>
  );
}

/** The cover with its version in the URL: a replaced cover shows at once, never the browser's cached old one. */
function VersionedCover({ track, version, px }: { track: Track; version?: string; px: number }) {
  if (!version || !track.hasCover) return <Cover track={track} px={px} />;
  return (
    <span class="cover" style={{ width: `${px}px`, height: `${px}px` }} aria-hidden="true">
      <img src={coverUrl({ id: track.id, coverVersion: version }, 96)} width={px} height={px} alt="" decoding="async" data-testid="my-track-cover" />
    </span>
  );
}

function MyTrack({ track, coverVersion, onChange }: { track: Track; coverVersion?: string; onChange: () => Promise<void> }) {
  const [isEditing, setIsEditing] = useState(false);
  const [f, setF] = useState({ title: track.title, artist: track.artist, album: track.album ?? '', genre: track.genre ?? '' });
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const [replaceProgress, setReplaceProgress] = useState('');
  const run = async (fn: () => Promise<unknown>, ok: string) => {
    setBusy(true);
    setError('');
    try {
      await fn();
      toast(ok);
      await onChange();
      return true;
    } catch (e) {
      setError(errorText(e));
      return false;
    } finally {
      setBusy(false);
    }
  };
  return (
    <li class="my-track" data-testid="my-track" data-track-id={track.id} data-status={track.status}>
      <VersionedCover track={track} version={coverVersion} px={48} />
      <div class="grow">
        <strong>{track.title}</strong>
        <span class="muted">
          {' '}
          · {track.artist}
          {track.album ? ` · ${track.album}` : ''} · {formatTime(track.durationMs)}
        </span>
        <span class={`badge ${track.status ?? ''}`} data-testid="track-status">
          {track.status ?? 'unknown'}
        </span>
        {track.status === 'failed' && track.error && <p class="error">{track.error.detail}</p>}
        {isEditing && (
          <form
            class="grid-3 edit"
            onSubmit={async (e) => {
              e.preventDefault();
              if (await run(() => api(`/api/tracks/${encodeURIComponent(track.id)}`, { method: 'PATCH', body: { title: f.title.trim(), artist: f.artist.trim() || undefined, album: f.album.trim() || null, genre: f.genre.trim() || null } }), 'Saved.')) setIsEditing(false);
            }}
          >
            {(['title', 'artist', 'album', 'genre'] as const).map((k) => (
              <label key={k}>
                {k[0].toUpperCase() + k.slice(1)}
                <input data-testid={`edit-${k}`} value={f[k]} required={k === 'title'} onInput={(e) => setF((x) => ({ ...x, [k]: e.currentTarget.value }))} />
              </label>
            ))}
            <label>
              Replace audio (WAV or FLAC)
              <input
                type="file"
                accept=".wav,.flac,audio/wav,audio/flac"
                data-testid="replace-audio"
                disabled={busy}
                onChange={(e) => {
                  const file = e.currentTarget.files?.[0];
                  e.currentTarget.value = '';
                  if (!file) return;
                  // Resumable like a new upload: big masters survive a dropped connection or a reload.
                  void run(async () => {
                    const res = await uploadTrack(file, {}, { replaceTrackId: track.id, onProgress: (f) => setReplaceProgress(f < 1 ? `Uploading ${Math.round(f * 100)}%` : 'Checking the file…'), onConnection: (_s, d) => d && setReplaceProgress(d) });
                    if (res.notices.length) toast(res.notices.join(' '));
                  }, 'New audio uploaded; it is being processed.').finally(() => setReplaceProgress(''));
                }}
              />
              {replaceProgress && (
                <span class="muted" role="status" data-testid="replace-progress">
                  {replaceProgress}
                </span>
              )}
            </label>
            <div>
              <label>
                {track.hasCover ? 'Replace cover (image)' : 'Add a cover (image)'}
                <input
                  type="file"
                  accept="image/*"
                  data-testid="replace-cover"
                  disabled={busy}
                  onChange={(e) => {
                    const file = e.currentTarget.files?.[0];
                    e.currentTarget.value = '';
                    if (!file) return;
                    const fd = new FormData();
                    fd.append('cover', file, file.name);
                    void run(() => api(`/api/tracks/${encodeURIComponent(track.id)}/cover`, { method: 'PUT', body: fd }), 'Cover replaced.');
                  }}
                />
              </label>
              {track.hasCover && (
                <button class="btn ghost" type="button" disabled={busy} data-testid="remove-cover" onClick={() => void run(() => api(`/api/tracks/${encodeURIComponent(track.id)}/cover`, { method: 'DELETE' }), 'Cover removed.')}>
                  Remove cover
                </button>
              )}
            </div>
            <div class="row">
              <button class="btn" type="submit" disabled={busy} data-testid="save-track">
                Save
              </button>
              <button class="btn ghost" type="button" onClick={() => setIsEditing(false)}>
                Cancel
              </button>
            </div>
          </form>
        )}
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
      </div>
      {!isEditing && (
        <button class="btn ghost" data-testid="edit-track" onClick={() => setIsEditing(true)}>
          Edit
        </button>
      )}
      <button
        class="icon-btn"
        data-testid="delete-track"
        aria-label={`Delete ${track.title}`}
        disabled={busy}
        onClick={() => {
          if (confirm(`Delete “${track.title}”? Listeners will no longer find it.`)) void run(() => api(`/api/tracks/${encodeURIComponent(track.id)}`, { method: 'DELETE' }), 'Track deleted.');
        }}
      >
        <Icon name="trash" />
      </button>
    </li>
  );
}
