/** History-API router: path patterns like /artist/:id, link clicks intercepted, focus moved to the page heading. */
import { createStore } from './store';

export const locationStore = createStore<{ path: string; query: URLSearchParams }>(read());

function read() {
  return { path: location.pathname, query: new URLSearchParams(location.search) };
}

export function navigate(to: string, replace = false): void {
  if (to === location.pathname + location.search) return;
  if (replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  locationStore.set(read());
  if (!replace) window.scrollTo(0, 0);
}

export function startRouter(): void {
  addEventListener('popstate', () => locationStore.set(read()));
  // Same-origin <a href> clicks become client-side navigations (modifier keys keep the browser behaviour).
  document.addEventListener('click', (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = (e.target as Element | null)?.closest?.('a');
    if (!a || a.target || a.hasAttribute('download')) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || url.pathname.startsWith('/api/')) return;
    e.preventDefault();
    navigate(url.pathname + url.search);
  });
}

export function match(pattern: string, path: string): Record<string, string> | null {
  const norm = (x: string) => (x.length > 1 ? x.replace(/\/+$/, '') : x);
  if (norm(pattern) === '/' || norm(path) === '/') return norm(pattern) === norm(path) ? {} : null;
  const p = norm(pattern).split('/');
  const s = norm(path).split('/');
  if (p.length !== s.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < p.length; i++) {
    if (p[i].startsWith(':')) params[p[i].slice(1)] = decodeURIComponent(s[i] ?? '');
    else if (p[i] !== s[i]) return null;
  }
  return params;
}
