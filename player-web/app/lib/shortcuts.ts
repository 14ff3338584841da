/** Global keyboard shortcuts (ignored while typing in a field or when a control handles the key itself). */
export const SHORTCUTS: [string, string][] = [
  ['Space / K', 'Play or pause'],
  ['← / →', 'Back / forward 5 seconds'],
  ['Shift + ← / →', 'Previous / next track'],
  ['Shift + ↑ / ↓', 'Volume up / down'],
  ['M', 'Mute'],
  ['S', 'Shuffle'],
  ['R', 'Repeat: off, all, one'],
  ['/', 'Search'],
  ['?', 'This help'],
];

export interface ShortcutActions {
  togglePlay(): void;
  next(): void;
  previous(): void;
  seekBy(sec: number): void;
  toggleMute(): void;
  toggleShuffle(): void;
  cycleRepeat(): void;
  volumeBy(delta: number): void;
}

export function installShortcuts(a: ShortcutActions): void {
  document.addEventListener('keydown', (e) => {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target as HTMLElement | null;
    const tag = t?.tagName;
    if (tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || t?.isContentEditable) return;
    // Buttons and links keep Space/Enter for themselves.
    if ((e.key === ' ' || e.key === 'Enter') && (tag === 'BUTTON' || tag === 'A' || t?.getAttribute('role') === 'button')) return;
    let handled = true;
    switch (e.key) {
      case ' ':
      case 'k':
      case 'K':
        a.togglePlay();
        break;
      case 'ArrowLeft':
        if (e.shiftKey) a.previous();
        else a.seekBy(-5);
        break;
      case 'ArrowRight':
        if (e.shiftKey) a.next();
        else a.seekBy(5);
        break;
      case 'ArrowUp':
        if (e.shiftKey) a.volumeBy(0.05);
        else handled = false;
        break;
      case 'ArrowDown':
        if (e.shiftKey) a.volumeBy(-0.05);
        else handled = false;
        break;
      case 'm':
      case 'M':
        a.toggleMute();
        break;
      case 's':
      case 'S':
        a.toggleShuffle();
        break;
      case 'r':
      case 'R':
        a.cycleRepeat();
        break;
      case '/':
        history.pushState(null, '', '/search');
        dispatchEvent(new PopStateEvent('popstate'));
        break;
      case '?':
        dispatchEvent(new Event('show-shortcuts'));
        break;
      default:
        handled = false;
    }
    if (handled) e.preventDefault();
  });
}
