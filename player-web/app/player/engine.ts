/**
 * The player: a queue, two decks (current + next buffered ahead), loudness normalization, QoE beacons and the
 * Media Session. UI components read `playerStore` and call the exported functions; nothing else touches the
 * <audio> elements.
 *
 * Gapless: when the next queue entry is on the same album, the track plays on a gapless chain (chain.ts): the
 * next track is appended to the same MediaSource right after the last real sample (priming and padding
 * trimmed), and the chain's onAdvance moves the player to it with no element switch at all (e2e/gapless.test.ts
 * measures the join on the audio). Any other next entry is loaded into the idle deck when the current track has
 * < PRELOAD_AHEAD_SEC left and starts from memory at `ended` (the gap, ended -> playing, is `lastGapMs`).
 */
import { api, errorText } from '../lib/api';
import { createStore } from '../lib/store';
import { toast } from '../lib/toast';
import { coverUrl, toTrack, type Playback, type Track } from '../lib/types';
import { BeaconSender, type BeaconInput } from './beacons';
import { canChain, type ChainItem } from './chain';
import { Deck, loadHls, type DeckRendition } from './deck';
import { uuid } from './ids';
import { familyOf, type Family, type Quality } from './quality';

export type Repeat = 'off' | 'all' | 'one';
/** Streaming engine: HLS through hls.js (and the gapless chain), or DASH through dash.js. */
export type Engine = 'hls' | 'dash';
export const ENGINE_LABELS: Record<Engine, string> = { hls: 'HLS (hls.js)', dash: 'DASH (dash.js)' };

export interface PlayerState {
  queue: Track[];
  /** order of playback over queue indexes (shuffled or not) */
  order: number[];
  /** position inside `order` */
  cursor: number;
  current?: Track;
  isPlaying: boolean;
  isLoading: boolean;
  positionSec: number;
  durationSec: number;
  bufferedSec: number;
  volume: number;
  isMuted: boolean;
  shuffle: boolean;
  repeat: Repeat;
  quality: Quality;
  engine: Engine;
  normalize: boolean;
  gainDb: number;
  rendition?: DeckRendition;
  family?: Family;
  error?: string;
  lastStartupMs?: number;
  lastGapMs?: number;
  /** whether the last start came from the deck buffered ahead */
  lastStartPreloaded?: boolean;
}

const SETTINGS_KEY = 'player.settings.v1';
const QUEUE_KEY = 'player.queue.v1';
const PRELOAD_AHEAD_SEC = 15;
const HEARTBEAT_MS = 10_000;

function loadSettings(): Pick<PlayerState, 'volume' | 'isMuted' | 'shuffle' | 'repeat' | 'quality' | 'engine' | 'normalize'> {
  const d = { volume: 0.9, isMuted: false, shuffle: false, repeat: 'off' as Repeat, quality: 'auto' as Quality, engine: 'hls' as Engine, normalize: true };
  try {
    return { ...d, ...(JSON.parse(localStorage.getItem(SETTINGS_KEY) ?? '{}') as object) };
  } catch {
    return d;
  }
}

export const playerStore = createStore<PlayerState>({
  queue: [],
  order: [],
  cursor: -1,
  isPlaying: false,
  isLoading: false,
  positionSec: 0,
  durationSec: 0,
  bufferedSec: 0,
  gainDb: 0,
  ...loadSettings(),
});

function patch(p: Partial<PlayerState>): void {
  playerStore.set((s) => ({ ...s, ...p }));
}

function saveSettings(): void {
  const s = playerStore.get();
  try {
    localStorage.setItem(SETTINGS_KEY, JSON.stringify({ volume: s.volume, isMuted: s.isMuted, shuffle: s.shuffle, repeat: s.repeat, quality: s.quality, engine: s.engine, normalize: s.normalize }));
  } catch {
    /* private mode */
  }
}

function saveQueue(): void {
  const s = playerStore.get();
  try {
    sessionStorage.setItem(QUEUE_KEY, JSON.stringify({ queue: s.queue.slice(0, 500), order: s.order, cursor: s.cursor, positionSec: s.positionSec }));
  } catch {
    /* quota */
  }
}

// ---------------------------------------------------------------------------------------------------------
// playback grants: cached until shortly before they expire; prefetched when a pointer enters a track row.

const grants = new Map<string, { at: number; p: Promise<Playback> }>();
function grantFresh(expiresAt: Playback['expiresAt']): boolean {
  if (expiresAt === undefined) return true;
  const t = typeof expiresAt === 'number' ? (expiresAt < 1e12 ? expiresAt * 1000 : expiresAt) : Date.parse(expiresAt);
  return !Number.isFinite(t) || t - Date.now() > 60_000;
}
export function playbackFor(trackId: string): Promise<Playback> {
  const hit = grants.get(trackId);
  if (hit && Date.now() - hit.at < 5 * 60_000) return hit.p;
  const p = api<Playback>(`/api/tracks/${encodeURIComponent(trackId)}/playback`).then((pb) => {
    if (!grantFresh(pb.expiresAt)) grants.delete(trackId);
    return pb;
  });
  p.catch(() => grants.delete(trackId));
  grants.set(trackId, { at: Date.now(), p });
  return p;
}
export function prefetchPlayback(trackId: string): void {
  void playbackFor(trackId).catch(() => {});
  void loadHls();
}

// ---------------------------------------------------------------------------------------------------------

const beacons = new BeaconSender();
let ctx: AudioContext | undefined;
let decks: [Deck, Deck] | undefined;
let active = 0;
let heartbeat: ReturnType<typeof setInterval> | undefined;
let endedAt: number | undefined;
let lastQueueSave = 0;

function cur(): Deck {
  return ensureDecks()[active];
}
function idle(): Deck {
  return ensureDecks()[1 - active];
}

const ACCOUNTED = new Set(['heartbeat', 'pause', 'seek', 'skip', 'ended']);

function emit(deck: Deck, input: Omit<BeaconInput, 'sessionId' | 'trackId' | 'positionMs'> & { positionMs?: number }): void {
  if (!deck.track || !deck.viewId) return;
  beacons.emit({
    ...(ACCOUNTED.has(input.type) ? { durationMs: deck.takePlayedMs() } : {}),
    sessionId: deck.viewId,
    trackId: deck.track.id,
    positionMs: input.positionMs ?? deck.position() * 1000,
    rendition: deck.rendition,
    bufferMs: Math.round(deck.bufferedAheadSec() * 1000),
    ...input,
  } as BeaconInput);
}

function ensureDecks(): [Deck, Deck] {
  if (decks) return decks;
  const callbacks = {
    onRendition(deck: Deck, r: DeckRendition, isSwitch: boolean) {
      if (deck === cur()) patch({ rendition: r, family: familyOf(r.codec) });
      if (isSwitch && deck.hasStarted) emit(deck, { type: 'rendition_switch' });
    },
    onPlan(deck: Deck, plan: { family: Family; fellBack: boolean }) {
      if (deck !== cur()) return;
      patch({ family: plan.family });
      if (plan.fellBack) toast('Lossless is not available for this track; playing the best lossy quality.');
    },
    onFatal(deck: Deck, code: string, detail: string) {
      emit(deck, { type: 'error', errorCode: code.slice(0, 64) });
      // A refused or expired grant must not be reused by the next press of play.
      if (deck.track) grants.delete(deck.track.id);
      void beacons.flush();
      if (deck === cur()) {
        patch({ error: detail, isLoading: false, isPlaying: false });
        toast(detail);
      } else deck.reset();
    },
    onAdvance(deck: Deck, previous: { track: Track; viewId: string; durationSec: number }) {
      onChainAdvance(deck, previous);
    },
    nextItem(deck: Deck, after: ChainItem) {
      return chainNext(deck, after);
    },
  };
  decks = [new Deck('A', callbacks), new Deck('B', callbacks)];
  for (const d of decks) wireDeck(d);
  applyVolume();
  return decks;
}

function wireDeck(deck: Deck): void {
  const a = deck.audio;
  a.addEventListener('playing', () => {
    if (deck !== cur()) return;
    if (!deck.hasStarted) {
      deck.hasStarted = true;
      const startupMs = Math.round(performance.now() - deck.requestedAt);
      emit(deck, { type: 'first_audio', startupMs });
      const gap = endedAt !== undefined ? Math.round(performance.now() - endedAt) : undefined;
      endedAt = undefined;
      patch({ lastStartupMs: startupMs, ...(gap !== undefined ? { lastGapMs: gap } : {}) });
    } else if (deck.isRebuffering) {
      deck.isRebuffering = false;
      emit(deck, { type: 'rebuffer_end', durationMs: Math.round(performance.now() - (deck.stallSince ?? performance.now())) });
    }
    deck.stallSince = undefined;
    deck.playingSince = performance.now();
    patch({ isPlaying: true, isLoading: false, error: undefined });
    startHeartbeat();
  });
  a.addEventListener('pause', () => {
    if (!a.ended) deck.stopClock();
    // The spec fires 'pause' just before 'ended': that one is not a listener's pause.
    if (deck !== cur() || deck.isEnded || a.ended || !deck.hasStarted) return;
    emit(deck, { type: 'pause' });
    patch({ isPlaying: false });
  });
  a.addEventListener('play', () => {
    if (deck !== cur() || !deck.hasStarted) return;
    emit(deck, { type: 'resume' });
  });
  a.addEventListener('waiting', () => {
    if (deck !== cur() || !deck.hasStarted || a.seeking || deck.isRebuffering) return;
    deck.isRebuffering = true;
    deck.stopClock();
    deck.stallSince = performance.now();
    emit(deck, { type: 'rebuffer_start' });
    patch({ isLoading: true });
  });
  a.addEventListener('seeking', () => deck.stopClock());
  a.addEventListener('seeked', () => {
    if (!a.paused && a.readyState >= 3) deck.playingSince = performance.now();
    if (deck === cur() && deck.isRebuffering && !a.paused) {
      deck.isRebuffering = false;
    }
  });
  a.addEventListener('timeupdate', () => {
    if (deck !== cur()) return;
    const d = deck.duration();
    const pos = deck.position();
    patch({ positionSec: pos, durationSec: d, bufferedSec: deck.bufferedTotalSec() });
    updatePositionState();
    if (d > 0 && d - pos < PRELOAD_AHEAD_SEC) void preloadNext();
    // Keep the position for a reload of this tab (every few seconds is enough).
    if (performance.now() - lastQueueSave > 5000) {
      lastQueueSave = performance.now();
      saveQueue();
    }
  });
  a.addEventListener('durationchange', () => {
    if (deck === cur() && deck.duration() > 0) patch({ durationSec: deck.duration() });
  });
  a.addEventListener('ended', () => {
    if (deck !== cur()) return;
    deck.isEnded = true;
    emit(deck, { type: 'ended', positionMs: deck.duration() * 1000 });
    void beacons.flush();
    endedAt = performance.now();
    patch({ isPlaying: false });
    onTrackEnded();
  });
  a.addEventListener('error', () => {
    if (deck !== cur() || !deck.track || deck.hls || deck.dash) return; // hls.js and dash.js report their own errors
    const code = a.error ? `media_error_${a.error.code}` : 'media_error';
    emit(deck, { type: 'error', errorCode: code });
    patch({ error: 'This track could not be played.', isPlaying: false, isLoading: false });
  });
}

function startHeartbeat(): void {
  if (heartbeat) return;
  heartbeat = setInterval(() => {
    const d = cur();
    if (d.audio.paused || !d.hasStarted) return;
    emit(d, { type: 'heartbeat' });
  }, HEARTBEAT_MS);
}

function ensureAudioContext(): void {
  if (ctx) {
    if (ctx.state === 'suspended') void ctx.resume();
    return;
  }
  const AC = (globalThis as { AudioContext?: typeof AudioContext; webkitAudioContext?: typeof AudioContext }).AudioContext ??
    (globalThis as { webkitAudioContext?: typeof AudioContext }).webkitAudioContext;
  if (!AC) return; // no Web Audio: no normalization, playback still works
  try {
    ctx = new AC({ latencyHint: 'playback' });
    for (const d of ensureDecks()) d.connect(ctx);
    if (ctx.state === 'suspended') void ctx.resume();
  } catch (e) {
    console.warn('Web Audio unavailable; loudness normalization off', e);
    ctx = undefined;
  }
}

/** Normalization gain: the measured gainDb, never pushing the true peak above -1 dBTP. */
function gainFor(track: Track | undefined): number {
  const l = track?.loudness;
  if (!playerStore.get().normalize || !l || typeof l.gainDb !== 'number') return 0;
  const headroom = typeof l.truePeakDb === 'number' ? -1 - l.truePeakDb : Infinity;
  return Math.min(l.gainDb, headroom);
}

function applyGain(deck: Deck, isGlide = false): void {
  const db = gainFor(deck.track);
  deck.setGainDb(db, isGlide);
  if (deck === cur()) patch({ gainDb: db });
}

async function ensureLoudness(deck: Deck, track: Track, isGlide = false): Promise<void> {
  if (track.loudness) return applyGain(deck, isGlide);
  try {
    const full = toTrack(await api(`/api/tracks/${encodeURIComponent(track.id)}`));
    if (deck.track?.id !== track.id) return;
    deck.track = { ...deck.track, loudness: full.loudness, durationMs: deck.track.durationMs ?? full.durationMs };
    applyGain(deck, isGlide);
  } catch {
    /* no loudness: unity gain */
  }
}

function applyVolume(): void {
  const s = playerStore.get();
  for (const d of decks ?? []) {
    d.audio.volume = s.volume;
    d.audio.muted = s.isMuted;
  }
}

/** The play-order position after `cursor` that plays next by itself (no wrap for repeat-one). */
function cursorAfter(s: PlayerState, cursor: number): number | undefined {
  if (s.repeat === 'one' || !s.order.length) return undefined;
  if (cursor + 1 < s.order.length) return cursor + 1;
  return s.repeat === 'all' && s.order.length > 1 ? 0 : undefined;
}

/** Consecutive entries of one album join gaplessly on the chain (HLS engine, MSE available). */
function joinsGaplessly(s: PlayerState, cursor: number): boolean {
  const next = cursorAfter(s, cursor);
  if (next === undefined || s.engine !== 'hls' || !canChain()) return false;
  const a = s.queue[s.order[cursor]];
  const b = s.queue[s.order[next]];
  return !!a?.albumId && a.albumId === b?.albumId && a.id !== b.id;
}

/** Loads a track into a deck (no play): DASH engine, gapless chain (album runs) or hls.js. */
async function loadInto(deck: Deck, track: Track, startSec: number, cursor: number): Promise<void> {
  const s = playerStore.get();
  const opts = { quality: s.quality, startSec, viewId: uuid() };
  if (s.engine === 'dash') {
    const pb = await playbackFor(track.id);
    if (pb.dash) await deck.loadDash(track, pb.dash, opts);
    else await deck.load((await loadHls()).default, track, pb.hls, opts);
  } else if (joinsGaplessly(s, cursor)) {
    // No hls.js wait here: the chain needs only fetch and MSE.
    const pb = await playbackFor(track.id);
    await deck.loadChain(track, pb.hls, { ...opts, cursor });
  } else {
    const [Hls, pb] = await Promise.all([loadHls().then((m) => m.default), playbackFor(track.id)]);
    await deck.load(Hls, track, pb.hls, opts);
  }
  applyGain(deck);
  void ensureLoudness(deck, track);
}

/** Chain: the entry after `after` when it is on the same album (else the chain ends and `ended` moves on). */
async function chainNext(deck: Deck, after: ChainItem): Promise<ChainItem | undefined> {
  const s = playerStore.get();
  if (deck.chain === undefined || s.order[after.cursor] === undefined || s.queue[s.order[after.cursor]]?.id !== after.track.id) return undefined;
  if (!joinsGaplessly(s, after.cursor)) return undefined;
  const cursor = cursorAfter(s, after.cursor)!;
  const track = s.queue[s.order[cursor]];
  const pb = await playbackFor(track.id);
  void ensureLoudnessOf(track);
  return { track, masterUrl: pb.hls, viewId: uuid(), cursor };
}

/** The chain's playhead crossed into the next album track: the previous view ended, the next one started. */
function onChainAdvance(deck: Deck, previous: { track: Track; viewId: string; durationSec: number }): void {
  const item = deck.chain?.current();
  if (!item) return;
  beacons.emit({
    type: 'ended',
    sessionId: previous.viewId,
    trackId: previous.track.id,
    positionMs: previous.durationSec * 1000,
    durationMs: deck.takePlayedMs(),
    rendition: deck.rendition,
    bufferMs: Math.round(deck.bufferedAheadSec() * 1000),
  } as BeaconInput);
  void beacons.flush();
  deck.hasStarted = true;
  deck.isEnded = false;
  deck.requestedAt = performance.now();
  if (deck !== cur()) return;
  emit(deck, { type: 'play_start', positionMs: 0 });
  // Nothing was waited for: the join is sample-continuous.
  emit(deck, { type: 'first_audio', startupMs: 0 });
  const known = loudnessCache.get(item.track.id);
  if (known && !deck.track?.loudness) deck.track = { ...deck.track!, loudness: known };
  patch({ cursor: item.cursor, current: item.track, positionSec: deck.position(), durationSec: deck.duration(), lastGapMs: 0, lastStartupMs: 0, lastStartPreloaded: true, rendition: deck.rendition });
  saveQueue();
  updateMediaSession(item.track);
  // Known ahead (chainNext fetched it) in the common case; else it glides in when it arrives.
  if (deck.track?.loudness) applyGain(deck, true);
  else void ensureLoudness(deck, item.track, true);
}

/** Loudness of tracks about to join a chain, fetched ahead so the gain is right at the join. */
const loudnessCache = new Map<string, Track['loudness']>();
async function ensureLoudnessOf(track: Track): Promise<void> {
  if (track.loudness || loudnessCache.has(track.id)) return;
  try {
    loudnessCache.set(track.id, toTrack(await api(`/api/tracks/${encodeURIComponent(track.id)}`)).loudness);
  } catch {
    /* unity gain */
  }
}

let preloading: string | undefined;
async function preloadNext(): Promise<void> {
  const s = playerStore.get();
  const next = nextCursor(s, false);
  if (next === undefined) return;
  // The chain appends that one itself, into the same MediaSource.
  if (cur().chain && joinsGaplessly(s, s.cursor)) return;
  const track = s.queue[s.order[next]];
  const d = idle();
  if (!track || d.track?.id === track.id || preloading === track.id) return;
  preloading = track.id;
  try {
    await loadInto(d, track, 0, next);
  } catch {
    d.reset();
  } finally {
    preloading = undefined;
  }
}

function nextCursor(s: PlayerState, userAction: boolean): number | undefined {
  if (!s.order.length) return undefined;
  if (s.repeat === 'one' && !userAction) return s.cursor;
  if (s.cursor + 1 < s.order.length) return s.cursor + 1;
  return s.repeat === 'all' || userAction ? (s.repeat === 'all' ? 0 : undefined) : undefined;
}

/** Leaves the current view: a `skip` beacon when it started and did not end. */
function leaveCurrent(): void {
  const d = cur();
  if (d.track && d.hasStarted && !d.isEnded) {
    emit(d, { type: 'skip' });
    void beacons.flush();
  }
}

async function startAtCursor(cursor: number, startSec = 0, requestedAt = performance.now()): Promise<void> {
  const s = playerStore.get();
  const track = s.queue[s.order[cursor]];
  if (!track) return;
  ensureAudioContext();
  ensureDecks();
  const wasCurrent = cur();
  patch({ cursor, current: track, isLoading: true, error: undefined, positionSec: startSec, durationSec: (track.durationMs ?? 0) / 1000, rendition: undefined, bufferedSec: 0 });
  saveQueue();
  updateMediaSession(track);
  const other = idle();
  if (other.track?.id === track.id && startSec === 0 && !other.hasStarted) {
    // Buffered ahead: swap decks and start from memory. The old deck is torn down only after the new one
    // was told to play (destroying hls.js and its MediaSource costs milliseconds we would hear as a gap).
    leaveCurrent();
    active = 1 - active;
    other.requestedAt = requestedAt;
    emit(other, { type: 'play_start', positionMs: 0 });
    applyGain(other);
    patch({ rendition: other.rendition, family: other.plan?.family, lastStartPreloaded: true });
    const playing = playDeck(other);
    setTimeout(() => wasCurrent !== cur() && wasCurrent.reset(), 0);
    await playing;
    return;
  }
  patch({ lastStartPreloaded: false });
  leaveCurrent();
  const d = wasCurrent;
  if (other.track && other.hasStarted) other.reset();
  d.requestedAt = requestedAt;
  try {
    await loadInto(d, track, startSec, cursor);
    if (playerStore.get().current?.id !== track.id) return; // superseded by a newer click
    emit(d, { type: 'play_start', positionMs: startSec * 1000 });
    await playDeck(d);
  } catch (e) {
    if (playerStore.get().current?.id !== track.id) return;
    patch({ isLoading: false, isPlaying: false, error: errorText(e) });
    toast(errorText(e));
  }
}

async function playDeck(d: Deck): Promise<void> {
  try {
    await d.audio.play();
  } catch (e) {
    if ((e as Error).name === 'AbortError') return; // replaced by another load
    if ((e as Error).name === 'NotAllowedError') {
      patch({ isLoading: false, isPlaying: false });
      toast('Press play to start audio.');
      return;
    }
    throw e;
  }
}

function onTrackEnded(): void {
  const s = playerStore.get();
  const next = nextCursor(s, false);
  if (next === undefined) {
    patch({ isPlaying: false, isLoading: false });
    return;
  }
  if (next === s.cursor) {
    const d = cur();
    d.isEnded = false;
    d.hasStarted = false;
    d.viewId = uuid();
    d.requestedAt = performance.now();
    emit(d, { type: 'play_start', positionMs: 0 });
    d.seekTo(0);
    void playDeck(d);
    return;
  }
  void startAtCursor(next, 0, performance.now());
}

function shuffledOrder(n: number, first: number): number[] {
  const rest = [...Array(n).keys()].filter((i) => i !== first);
  for (let i = rest.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [rest[i], rest[j]] = [rest[j], rest[i]];
  }
  return first >= 0 ? [first, ...rest] : rest;
}

// ---------------------------------------------------------------------------------------------------------
// public API

/** Plays `tracks[index]` with the list as the queue (what a click on a row in any list does). */
export function playList(tracks: Track[], index = 0): Promise<void> {
  const requestedAt = performance.now();
  const s = playerStore.get();
  const order = s.shuffle ? shuffledOrder(tracks.length, index) : [...tracks.keys()];
  playerStore.set({ ...s, queue: tracks.slice(), order });
  return startAtCursor(order.indexOf(index), 0, requestedAt);
}

export function enqueue(track: Track, playNext = false): void {
  const s = playerStore.get();
  const queue = [...s.queue, track];
  const i = queue.length - 1;
  const order = [...s.order];
  order.splice(playNext ? s.cursor + 1 : order.length, 0, i);
  playerStore.set({ ...s, queue, order });
  saveQueue();
  toast(playNext ? `“${track.title}” plays next.` : `Added “${track.title}” to the queue.`);
  if (s.cursor < 0) void startAtCursor(0);
}

export function removeFromQueue(orderPos: number): void {
  const s = playerStore.get();
  if (orderPos === s.cursor) return;
  const order = s.order.filter((_, i) => i !== orderPos);
  playerStore.set({ ...s, order, cursor: orderPos < s.cursor ? s.cursor - 1 : s.cursor });
  saveQueue();
  if (idle().track) idle().reset();
}

export function jumpTo(orderPos: number): Promise<void> {
  return startAtCursor(orderPos);
}

export function togglePlay(): void {
  const s = playerStore.get();
  const d = cur();
  ensureAudioContext();
  if (!d.track) {
    if (s.cursor >= 0) void startAtCursor(s.cursor, s.positionSec);
    return;
  }
  if (d.audio.paused) {
    if (d.isEnded) {
      d.isEnded = false;
      d.hasStarted = false;
      d.viewId = uuid();
      d.requestedAt = performance.now();
      emit(d, { type: 'play_start', positionMs: 0 });
      d.seekTo(0);
    }
    void playDeck(d).catch((e: unknown) => toast(errorText(e)));
  } else d.audio.pause();
}

export function next(): void {
  const s = playerStore.get();
  const n = nextCursor(s, true);
  if (n !== undefined) void startAtCursor(n);
}

export function previous(): void {
  const s = playerStore.get();
  const d = cur();
  // Like every music player: more than 3 s in, "previous" restarts the track.
  if (d.position() > 3 || s.cursor <= 0) {
    if (d.track) seek(0);
    return;
  }
  void startAtCursor(s.cursor - 1);
}

export function seek(sec: number): void {
  const d = cur();
  if (!d.track) return;
  const dur = d.duration() || playerStore.get().durationSec;
  const t = Math.max(0, Math.min(sec, Math.max(0, dur - 0.25)));
  emit(d, { type: 'seek', positionMs: t * 1000 });
  d.seekTo(t);
  patch({ positionSec: t });
}

export function seekBy(deltaSec: number): void {
  seek(cur().position() + deltaSec);
}

export function setVolume(v: number): void {
  patch({ volume: Math.max(0, Math.min(1, v)), isMuted: false });
  applyVolume();
  saveSettings();
}

export function toggleMute(): void {
  patch({ isMuted: !playerStore.get().isMuted });
  applyVolume();
  saveSettings();
}

export function toggleShuffle(): void {
  const s = playerStore.get();
  const shuffle = !s.shuffle;
  const currentIdx = s.order[s.cursor];
  const order = shuffle ? shuffledOrder(s.queue.length, currentIdx ?? -1) : [...s.queue.keys()];
  playerStore.set({ ...s, shuffle, order, cursor: currentIdx === undefined ? -1 : order.indexOf(currentIdx) });
  if (idle().track && !idle().hasStarted) idle().reset();
  saveSettings();
  saveQueue();
}

export function cycleRepeat(): void {
  const r = playerStore.get().repeat;
  patch({ repeat: r === 'off' ? 'all' : r === 'all' ? 'one' : 'off' });
  saveSettings();
}

export function setNormalize(on: boolean): void {
  patch({ normalize: on });
  saveSettings();
  for (const d of decks ?? []) applyGain(d);
}

export async function setQuality(q: Quality): Promise<void> {
  patch({ quality: q });
  saveSettings();
  const d = cur();
  const id = idle();
  if (id.track && !id.hasStarted) id.reset();
  if (!d.track || !d.isLoaded()) return;
  if (d.applyQuality(q)) return;
  // Another codec family: reload at the same position (levels of one family only are kept per load).
  await reloadCurrent();
}

/** Reloads the current track at the same position (another codec family or engine). */
async function reloadCurrent(): Promise<void> {
  const d = cur();
  if (!d.track || !d.isLoaded()) return;
  const wasPaused = d.audio.paused;
  const at = d.position();
  const track = d.track;
  leaveCurrent();
  d.requestedAt = performance.now();
  await loadInto(d, track, at, playerStore.get().cursor);
  emit(d, { type: 'play_start', positionMs: at * 1000 });
  if (!wasPaused) await playDeck(d);
}

export async function setEngine(e: Engine): Promise<void> {
  if (playerStore.get().engine === e) return;
  patch({ engine: e });
  saveSettings();
  const id = idle();
  if (id.track && !id.hasStarted) id.reset();
  await reloadCurrent();
}

/** Restores the queue of this tab after a reload (paused at the start of the last track). */
export function restoreQueue(): void {
  try {
    const raw = sessionStorage.getItem(QUEUE_KEY);
    if (!raw) return;
    const q = JSON.parse(raw) as { queue: Track[]; order: number[]; cursor: number; positionSec?: number };
    if (!Array.isArray(q.queue) || !q.queue.length) return;
    const current = q.queue[q.order[q.cursor]];
    patch({ queue: q.queue, order: q.order, cursor: q.cursor, current, durationSec: (current?.durationMs ?? 0) / 1000, positionSec: q.positionSec ?? 0 });
  } catch {
    /* ignore */
  }
}

// ---------------------------------------------------------------------------------------------------------
// Media Session: lock screen, headset and keyboard media keys.

function updateMediaSession(track: Track): void {
  if (!('mediaSession' in navigator)) return;
  try {
    navigator.mediaSession.metadata = new MediaMetadata({
      title: track.title,
      artist: track.artist,
      album: track.album ?? '',
      // Only a cover the API says exists (hasCover true); unknown would cost three 404s per track.
      artwork: track.hasCover === true ? ([96, 300, 600] as const).map((n) => ({ src: coverUrl(track, n), sizes: `${n}x${n}`, type: 'image/jpeg' })) : [],
    });
  } catch {
    /* older browsers */
  }
}

let lastPositionState = 0;
function updatePositionState(): void {
  const now = performance.now();
  if (!('mediaSession' in navigator) || now - lastPositionState < 1000) return;
  lastPositionState = now;
  const d = cur();
  const duration = d.duration();
  if (!(duration > 0)) return;
  try {
    navigator.mediaSession.setPositionState({ duration, position: Math.min(d.position(), duration), playbackRate: d.audio.playbackRate });
  } catch {
    /* ignore */
  }
}

export function initPlayer(): void {
  restoreQueue();
  if (!('mediaSession' in navigator)) return;
  const handlers: [MediaSessionAction, MediaSessionActionHandler][] = [
    ['play', () => togglePlay()],
    ['pause', () => togglePlay()],
    ['previoustrack', () => previous()],
    ['nexttrack', () => next()],
    ['seekbackward', (d) => seekBy(-(d.seekOffset ?? 10))],
    ['seekforward', (d) => seekBy(d.seekOffset ?? 10)],
    ['seekto', (d) => d.seekTime !== undefined && seek(d.seekTime)],
  ];
  for (const [action, fn] of handlers) {
    try {
      navigator.mediaSession.setActionHandler(action, fn);
    } catch {
      /* action not supported here */
    }
  }
  playerStore.subscribe((s) => {
    navigator.mediaSession.playbackState = s.isPlaying ? 'playing' : s.current ? 'paused' : 'none';
  });
}

/** Test and debug hook: the e2e suite reads state through it (never used by the UI). */
export function debugHandle() {
  return {
    state: () => playerStore.get(),
    audio: () => cur().audio,
    /** Seconds into the current track (the chain's element timeline spans an album's tracks). */
    position: () => cur().position(),
    mode: () => cur().mode,
    chain: () => cur().chain?.debugInfo(),
    beacons: () => beacons.sent.slice(),
    flush: () => beacons.flush(),
    audioContextState: () => ctx?.state ?? 'none',
    gainValue: () => cur().gain?.gain.value ?? 1,
    /** The AudioContext and every deck's last node, so a test can tap what is heard (e2e/gapless.test.ts). */
    audioGraph: () => ({ ctx, outputs: (decks ?? []).map((d) => d.gain).filter((g): g is GainNode => !!g) }),
    seek,
  };
}
