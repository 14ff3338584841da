/** Loads a GET endpoint for a component: {data, error, isLoading}; re-runs when the path changes, aborts stale loads. */
import { useEffect, useState } from 'preact/hooks';
import { api, errorText } from './api';

export function useApi<T>(path: string | null, map: (raw: unknown) => T, deps: unknown[] = []): { data?: T; error?: string; isLoading: boolean; reload: () => void } {
  const [state, setState] = useState<{ data?: T; error?: string; isLoading: boolean }>({ isLoading: !!path });
  const [n, setN] = useState(0);
  useEffect(() => {
    if (!path) return setState({ isLoading: false });
    const ac = new AbortController();
    setState((s) => ({ data: s.data, isLoading: true }));
    api(path, { signal: ac.signal })
      .then((raw) => setState({ data: map(raw), isLoading: false }))
      .catch((e: unknown) => {
        if ((e as Error).name !== 'AbortError') setState({ error: errorText(e), isLoading: false });
      });
    return () => ac.abort();
  }, [path, n, ...deps]);
  return { ...state, reload: () => setN((x) => x + 1) };
}
