/** Instant search: results update as you type (debounced 120 ms, stale requests aborted); the query lives in the URL. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { Section } from '../components/Section';
import { TrackList } from '../components/TrackList';
import { api, errorText } from '../lib/api';
import { locationStore, navigate } from '../lib/router';
import { useStore } from '../lib/store';
import { toTracks, type Track } from '../lib/types';

export function Search() {
  const loc = useStore(locationStore);
  const [q, setQ] = useState(loc.query.get('q') ?? '');
  const [res, setRes] = useState<{ tracks?: Track[]; error?: string; isLoading: boolean }>({ isLoading: false });
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);
  useEffect(() => {
    const term = q.trim();
    navigate(term ? `/search?q=${encodeURIComponent(term)}` : '/search', true);
    if (!term) return setRes({ isLoading: false });
    const ac = new AbortController();
    setRes((r) => ({ ...r, isLoading: true }));
    const timer = setTimeout(() => {
      api(`/api/tracks?q=${encodeURIComponent(term)}&limit=50`, { signal: ac.signal })
        .then((raw) => setRes({ tracks: toTracks(raw), isLoading: false }))
        .catch((e: unknown) => (e as Error).name !== 'AbortError' && setRes({ error: errorText(e), isLoading: false }));
    }, 120);
    return () => {
      clearTimeout(timer);
      ac.abort();
    };
  }, [q]);
  return (
    <div class="page">
      <h1 tabIndex={-1}>Search</h1>
      <form role="search" onSubmit={(e) => e.preventDefault()}>
        <label for="search-input" class="sr-only">
          Search tracks, artists and albums
        </label>
        <input
          ref={input}
          id="search-input"
          class="search-input"
          data-testid="search-input"
          type="search"
          autoComplete="off"
          placeholder="Tracks, artists, albums"
          value={q}
          onInput={(e) => setQ(e.currentTarget.value)}
        />
      </form>
      {q.trim() && (
        <Section title="Tracks" isLoading={res.isLoading && !res.tracks} error={res.error} empty={res.tracks?.length === 0 && `Nothing found for “${q.trim()}”.`} testId="search-results">
          {res.tracks && <TrackList tracks={res.tracks} label="Search results" />}
        </Section>
      )}
    </div>
  );
}
