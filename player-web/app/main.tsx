/**
 * App shell: skip link, navigation, the routed page in <main>, and the persistent player bar. Rarely visited
 * pages (portal, dashboard) are separate chunks; hls.js is fetched once the first paint is done.
 */
import { render, type ComponentType } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import './styles.css';
import { PlayerBar } from './components/PlayerBar';
import { Toasts } from './components/Toasts';
import { Icon } from './components/Icon';
import { locationStore, match, navigate, startRouter } from './lib/router';
import { loadSession, meStore, signOut } from './lib/session';
import { useStore } from './lib/store';
import { Home } from './pages/Home';
import { Search } from './pages/Search';
import { Artist } from './pages/Artist';
import { Album } from './pages/Album';
import { PlaylistPage } from './pages/Playlist';
import { Library } from './pages/Library';
import { Login, Signup } from './pages/Auth';
import { preloadHls } from './player/deck';
import { debugHandle, initPlayer, next, previous, seekBy, setVolume, playerStore, toggleMute, togglePlay, toggleShuffle, cycleRepeat } from './player/engine';
import { installShortcuts, SHORTCUTS } from './lib/shortcuts';

function lazy<P extends object>(load: () => Promise<ComponentType<P>>): ComponentType<P> {
  let C: ComponentType<P> | undefined;
  return (props: P) => {
    const [, set] = useState(0);
    useEffect(() => {
      if (!C) void load().then((c) => ((C = c), set(1)));
    }, []);
    return C ? <C {...props} /> : <div class="page" aria-busy="true" />;
  };
}
const Portal = lazy(() => import('./pages/Portal').then((m) => m.Portal));
const Dashboard = lazy(() => import('./pages/Dashboard').then((m) => m.Dashboard));

const ROUTES: [string, (p: Record<string, string>) => preact.JSX.Element][] = [
  ['/', () => <Home />],
  ['/search', () => <Search />],
  ['/artist/:id', (p) => <Artist id={p.id} />],
  ['/album/:id', (p) => <Album id={p.id} />],
  ['/playlist/:id', (p) => <PlaylistPage id={p.id} />],
  ['/library', () => <Library />],
  ['/login', () => <Login />],
  ['/signup', () => <Signup />],
  ['/portal', () => <Portal />],
  ['/dashboard', () => <Dashboard />],
];

function Page() {
  const loc = useStore(locationStore);
  const mainRef = useRef<HTMLElement>(null);
  const first = useRef(true);
  useEffect(() => {
    // Move focus to the new page's heading so screen-reader and keyboard users land on the content.
    if (first.current) {
      first.current = false;
      return;
    }
    const h = mainRef.current?.querySelector('h1');
    (h as HTMLElement | null)?.focus({ preventScroll: true });
  }, [loc.path]);
  let content: preact.JSX.Element | undefined;
  for (const [pattern, render] of ROUTES) {
    const params = match(pattern, loc.path);
    if (params) {
      content = render(params);
      break;
    }
  }
  return (
    <main id="main" ref={mainRef} tabIndex={-1}>
      {content ?? (
        <div class="page">
          <h1 tabIndex={-1}>Page not found</h1>
          <p>
            <a href="/">Go home</a>
          </p>
        </div>
      )}
    </main>
  );
}

function Nav() {
  const me = useStore(meStore);
  const loc = useStore(locationStore);
  const link = (href: string, label: string, testId: string) => (
    <a href={href} data-testid={testId} aria-current={loc.path === href ? 'page' : undefined}>
      {label}
    </a>
  );
  return (
    <header class="topbar">
      <a href="/" class="brand" aria-label="Home">
        <span class="dot" aria-hidden="true" />
        Music
      </a>
      <nav aria-label="Main">
        {link('/', 'Home', 'nav-home')}
        <a href="/search" data-testid="nav-search" aria-current={loc.path === '/search' ? 'page' : undefined} aria-label="Search">
          <Icon name="search" />
          <span class="hide-sm">Search</span>
        </a>
        {link('/library', 'Library', 'nav-library')}
        {me && me.role !== 'listener' && link('/portal', 'Portal', 'nav-portal')}
        {me && link('/dashboard', 'Analytics', 'nav-dashboard')}
      </nav>
      <div class="account">
        {me === undefined ? (
          <span class="account-placeholder" aria-hidden="true" />
        ) : me ? (
          <>
            <span class="hide-sm muted" data-testid="me-name">
              {me.displayName}
            </span>
            <button class="btn ghost" data-testid="logout" onClick={() => void signOut().then(() => navigate('/'))}>
              Log out
            </button>
          </>
        ) : (
          <>
            {link('/login', 'Log in', 'nav-login')}
            <a class="btn" href="/signup" data-testid="nav-signup">
              Sign up
            </a>
          </>
        )}
      </div>
    </header>
  );
}

function ShortcutHelp() {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const open = () => ref.current?.showModal();
    addEventListener('show-shortcuts', open);
    return () => removeEventListener('show-shortcuts', open);
  }, []);
  return (
    <dialog ref={ref} class="dialog" aria-labelledby="kb-title">
      <h2 id="kb-title">Keyboard shortcuts</h2>
      <dl class="shortcuts">
        {SHORTCUTS.map(([k, d]) => (
          <div key={k}>
            <dt>
              <kbd>{k}</kbd>
            </dt>
            <dd>{d}</dd>
          </div>
        ))}
      </dl>
      <button class="btn" onClick={() => ref.current?.close()}>
        Close
      </button>
    </dialog>
  );
}

function App() {
  return (
    <>
      <a class="skip-link" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById('main')?.focus())}>
        Skip to content
      </a>
      <Nav />
      <Page />
      <PlayerBar />
      <Toasts />
      <ShortcutHelp />
    </>
  );
}

startRouter();
initPlayer();
installShortcuts({ togglePlay, next, previous, seekBy, toggleMute, toggleShuffle, cycleRepeat, volumeBy: (d) => setVolume(playerStore.get().volume + d) });
void loadSession();
render(<App />, document.getElementById('app')!);
preloadHls();
(window as unknown as { __player: ReturnType<typeof debugHandle> }).__player = debugHandle();
