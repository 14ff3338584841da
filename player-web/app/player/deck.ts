/**
 * A deck is one <audio> element with its Web Audio gain node and one playback engine at a time:
 * - hls.js (default),
 * - the gapless chain (chain.ts): an album's consecutive tracks in one MediaSource, priming and padding trimmed,
 * - dash.js (opt-in engine setting, lazily loaded),
 * - native HLS where there is no MSE (older iOS).
 * The engine keeps two decks: the one playing and the one holding the next track buffered ahead (a track that
 * the chain does not join gaplessly starts from memory instead of from the network).
 */
import type HlsType from 'hls.js';
import type { Level } from 'hls.js';
import { planLevels, type LevelPlan, type Quality } from './quality';
import type { Track } from '../lib/types';
import { GaplessChain, type ChainItem } from './chain';
import { DashEngine } from './dash';
import { loadFailureText } from './load-errors';

type HlsModule = typeof import('hls.js');
let hlsModule: Promise<HlsModule> | undefined;
/** hls.js is ~190 KB gzip: fetched once, after first paint (preloadHls) or on first play. */
export function loadHls(): Promise<HlsModule> {
  hlsModule ??= import('hls.js');
  return hlsModule;
}
export function preloadHls(): void {
  const idle = (globalThis as { requestIdleCallback?: (cb: () => void) => void }).requestIdleCallback ?? ((cb: () => void) => setTimeout(cb, 200));
  idle(() => void loadHls());
}

export interface DeckRendition {
  codec: string;
  bitrateKbps: number;
}

export interface DeckCallbacks {
  onRendition(deck: Deck, r: DeckRendition, isSwitch: boolean): void;
  onFatal(deck: Deck, code: string, detail: string): void;
  onPlan(deck: Deck, plan: Pick<LevelPlan, 'family' | 'fellBack'>): void;
  /** Chain mode: the playhead entered the next chained track (deck.track and viewId already point at it). */
  onAdvance(deck: Deck, previous: { track: Track; viewId: string; durationSec: number }): void;
  /** Chain mode: what joins the last chained track gaplessly, if anything. */
  nextItem(deck: Deck, after: ChainItem): Promise<ChainItem | undefined>;
}

export type DeckMode = 'hls' | 'chain' | 'dash' | 'native';

export class Deck {
  readonly audio: HTMLAudioElement;
  hls?: HlsType;
  chain?: GaplessChain;
  dash?: DashEngine;
  mode: DeckMode = 'hls';
  track?: Track;
  /** beacon sessionId of the current view (one play attempt) */
  viewId = '';
  gain?: GainNode;
  plan?: LevelPlan;
  rendition?: DeckRendition;
  /** performance.now() of the play request, for startup time */
  requestedAt = 0;
  hasStarted = false;
  isEnded = false;
  isRebuffering = false;
  /** playing-time accounting for the beacons' durationMs (see TBeaconEvent.durationMs) */
  playedMs = 0;
  playingSince: number | undefined;
  stallSince: number | undefined;
  /** levels still present after family filtering, in hls.js order (original indexes) */
  private keptOriginal: number[] = [];
  private originalLevels: { codec: string; bitrate: number }[] = [];

  constructor(
    readonly name: 'A' | 'B',
    private readonly cb: DeckCallbacks,
  ) {
    this.audio = document.createElement('audio');
    this.audio.preload = 'auto';
    // Needed only where the browser plays HLS natively from the edge (another origin): Web Audio would
    // otherwise get silence. MSE playback reads from a same-origin blob: URL anyway.
    this.audio.crossOrigin = 'anonymous';
    this.audio.setAttribute('data-testid', `audio-deck-${name}`);
    this.audio.hidden = true;
    document.body.appendChild(this.audio);
  }

  connect(ctx: AudioContext): void {
    if (this.gain) return;
    const src = ctx.createMediaElementSource(this.audio);
    this.gain = ctx.createGain();
    src.connect(this.gain).connect(ctx.destination);
  }

  /**
   * `isGlide`: approach the new gain over a few ms instead of stepping (a step in the middle of a waveform is a
   * click; used at a gapless join between album tracks of different loudness, while audio flows).
   */
  setGainDb(db: number, isGlide = false): void {
    if (!this.gain) return;
    const v = Math.pow(10, db / 20);
    const p = this.gain.gain;
    if (!isGlide) {
      p.cancelScheduledValues(0);
      p.value = v;
      return;
    }
    const now = this.gain.context.currentTime;
    p.cancelScheduledValues(now);
    p.setValueAtTime(p.value, now);
    p.setTargetAtTime(v, now, 0.004);
  }

  reset(): void {
    this.hls?.destroy();
    this.hls = undefined;
    this.chain?.destroy();
    this.chain = undefined;
    this.dash?.destroy();
    this.dash = undefined;
    this.audio.pause();
    this.audio.removeAttribute('src');
    this.audio.load();
    this.track = undefined;
    this.viewId = '';
    this.plan = undefined;
    this.rendition = undefined;
    this.hasStarted = false;
    this.isEnded = false;
    this.isRebuffering = false;
    this.playedMs = 0;
    this.playingSince = undefined;
    this.stallSince = undefined;
    this.keptOriginal = [];
  }

  async load(
    Hls: HlsModule['default'],
    track: Track,
    url: string,
    opts: { quality: Quality; startSec: number; viewId: string },
  ): Promise<void> {
    this.reset();
    this.track = track;
    this.viewId = opts.viewId;
    this.mode = 'hls';
    if (!Hls.isSupported()) {
      this.mode = 'native';
      // Safari without MSE: native HLS (it picks AAC itself; FLAC only in fMP4, which we serve).
      if (!this.audio.canPlayType('application/vnd.apple.mpegurl')) {
        this.cb.onFatal(this, 'unsupported_browser', 'This browser cannot play HLS audio. Try a current Chrome, Firefox, Edge or Safari.');
        return;
      }
      this.audio.src = url + (opts.startSec > 0 ? `#t=${opts.startSec}` : '');
      return;
    }
    const hls = new Hls({
      autoStartLoad: false,
      startPosition: opts.startSec > 0 ? opts.startSec : -1,
      // The grant sits in the path, so relative segment URIs keep it (FIELD-NOTES); no credentials needed.
      xhrSetup: undefined,
      maxBufferLength: 30,
      maxMaxBufferLength: 120,
      backBufferLength: 30,
      startFragPrefetch: true,
      testBandwidth: false,
      // fMP4 audio needs no transmuxing work worth a worker; creating one per load costs startup time.
      enableWorker: false,
      cmcd: { sessionId: opts.viewId, contentId: track.id, useHeaders: false },
      fragLoadPolicy: {
        default: {
          maxTimeToFirstByteMs: 8000,
          maxLoadTimeMs: 20000,
          timeoutRetry: { maxNumRetry: 4, retryDelayMs: 0, maxRetryDelayMs: 0 },
          errorRetry: { maxNumRetry: 6, retryDelayMs: 500, maxRetryDelayMs: 8000 },
        },
      },
    });
    this.hls = hls;
    hls.on(Hls.Events.MANIFEST_PARSED, (_e, data) => {
      if (this.hls !== hls) return;
      this.originalLevels = data.levels.map((l: Level) => ({ codec: l.audioCodec || l.codecSet || l.attrs?.CODECS || '', bitrate: l.bitrate }));
      const plan = planLevels(this.originalLevels, opts.quality);
      if (!plan) {
        this.cb.onFatal(this, 'no_playable_rendition', 'None of this track\u2019s audio formats plays in this browser.');
        return;
      }
      this.plan = plan;
      const keep = new Set(plan.keep);
      // Remove from the end so earlier indexes stay valid.
      for (let i = data.levels.length - 1; i >= 0; i--) if (!keep.has(i)) hls.removeLevel(i);
      this.keptOriginal = data.levels.map((_l, i) => i).filter((i) => keep.has(i));
      const start = this.keptOriginal.indexOf(plan.start);
      hls.startLevel = start;
      if (plan.pinned !== undefined) hls.loadLevel = this.keptOriginal.indexOf(plan.pinned);
      this.cb.onPlan(this, plan);
      hls.startLoad(opts.startSec > 0 ? opts.startSec : -1);
    });
    hls.on(Hls.Events.LEVEL_SWITCHED, (_e, data) => {
      if (this.hls !== hls) return;
      const orig = this.keptOriginal[data.level];
      const l = this.originalLevels[orig];
      if (!l) return;
      const r = { codec: l.codec, bitrateKbps: Math.round(l.bitrate / 1000) };
      const isSwitch = !!this.rendition;
      this.rendition = r;
      this.cb.onRendition(this, r, isSwitch);
    });
    hls.on(Hls.Events.ERROR, (_e, data) => {
      if (this.hls !== hls || !data.fatal) return;
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
        hls.recoverMediaError();
        return;
      }
      const status = (data.response as { code?: number } | undefined)?.code;
      this.cb.onFatal(this, String(data.details), loadFailureText(status ?? 0));
    });
    hls.attachMedia(this.audio);
    hls.loadSource(url);
  }

  /** Gapless chain from `track` on: later tracks join when the engine's nextItem offers them. */
  async loadChain(track: Track, url: string, opts: { quality: Quality; startSec: number; viewId: string; cursor: number }): Promise<void> {
    this.reset();
    this.track = track;
    this.viewId = opts.viewId;
    this.mode = 'chain';
    const chain: GaplessChain = new GaplessChain(
      this.audio,
      {
        onAdvance: (item, previousDurationSec) => {
          if (this.chain !== chain) return;
          const previous = { track: this.track!, viewId: this.viewId, durationSec: previousDurationSec };
          this.track = item.track;
          this.viewId = item.viewId;
          this.cb.onAdvance(this, previous);
        },
        onRendition: (r, isSwitch) => {
          if (this.chain !== chain) return;
          this.rendition = r;
          this.cb.onRendition(this, r, isSwitch);
        },
        onPlan: (plan) => {
          if (this.chain !== chain) return;
          this.plan = plan;
          this.cb.onPlan(this, plan);
        },
        onFatal: (code, detail) => this.chain === chain && this.cb.onFatal(this, code, detail),
        nextItem: (after) => (this.chain === chain ? this.cb.nextItem(this, after) : Promise.resolve(undefined)),
      },
      opts.quality,
      { sessionId: () => this.viewId, contentId: () => this.track?.id ?? '' },
    );
    this.chain = chain;
    await chain.start({ track, masterUrl: url, viewId: opts.viewId, cursor: opts.cursor }, opts.startSec);
  }

  /** dash.js on this deck's element (lazily imported). */
  async loadDash(track: Track, url: string, opts: { quality: Quality; startSec: number; viewId: string }): Promise<void> {
    this.reset();
    this.track = track;
    this.viewId = opts.viewId;
    this.mode = 'dash';
    const engine = new DashEngine(this.audio, {
      onRendition: (r, isSwitch) => {
        if (this.dash !== engine) return;
        this.rendition = r;
        this.cb.onRendition(this, r, isSwitch);
      },
      onFamily: (family) => {
        if (this.dash !== engine) return;
        this.plan = { family, keep: [], start: 0, fellBack: opts.quality === 'lossless' && family !== 'flac' };
        this.cb.onPlan(this, this.plan);
      },
      onFatal: (code, detail) => this.dash === engine && this.cb.onFatal(this, code, detail),
    });
    this.dash = engine;
    await engine.load(url, { quality: opts.quality, startSec: opts.startSec, sessionId: opts.viewId, contentId: track.id });
  }

  isLoaded(): boolean {
    return !!(this.hls || this.chain || this.dash);
  }

  /** Seconds into the deck's current track (the chain's element timeline spans several tracks). */
  position(): number {
    return this.chain ? this.chain.position() : this.audio.currentTime;
  }

  /** Duration of the deck's current track, seconds. */
  duration(): number {
    if (this.chain) return this.chain.duration();
    const d = this.audio.duration;
    return Number.isFinite(d) ? d : (this.track?.durationMs ?? 0) / 1000;
  }

  seekTo(sec: number): void {
    if (this.chain) this.chain.seek(sec);
    else this.audio.currentTime = sec;
  }

  /** Switch inside the current family without reloading; returns false when a reload is needed. */
  applyQuality(quality: Quality): boolean {
    if (this.chain) return this.chain.setQuality(quality);
    if (this.dash) return this.dash.applyQuality(quality, this.plan?.family);
    const hls = this.hls;
    if (!hls || !this.plan) return false;
    const plan = planLevels(this.originalLevels, quality);
    if (!plan || plan.family !== this.plan.family) return false;
    this.plan = plan;
    hls.nextLevel = plan.pinned === undefined ? -1 : this.keptOriginal.indexOf(plan.pinned);
    if (plan.pinned === undefined) hls.currentLevel = -1;
    this.cb.onPlan(this, plan);
    return true;
  }

  /** Stops the playing clock (pause, stall, seek, end). */
  stopClock(): void {
    if (this.playingSince !== undefined) this.playedMs += performance.now() - this.playingSince;
    this.playingSince = undefined;
  }

  /** Playing time since the previous accounting event, and restart counting. */
  takePlayedMs(): number {
    const now = performance.now();
    const ms = this.playedMs + (this.playingSince !== undefined ? now - this.playingSince : 0);
    this.playedMs = 0;
    if (this.playingSince !== undefined) this.playingSince = now;
    return Math.max(0, Math.round(ms));
  }

  /** Chain mode: seconds of the element timeline before the current track (buffered figures are relative). */
  private timelineStart(): number {
    return this.chain ? this.audio.currentTime - this.chain.position() : 0;
  }

  bufferedAheadSec(): number {
    const t = this.audio.currentTime;
    const b = this.audio.buffered;
    for (let i = 0; i < b.length; i++) if (b.start(i) <= t + 0.05 && b.end(i) >= t) return b.end(i) - t;
    return 0;
  }

  bufferedTotalSec(): number {
    const b = this.audio.buffered;
    // Chain mode: only what lies inside the current track counts.
    const from = this.timelineStart();
    const to = this.chain ? from + this.chain.duration() : Infinity;
    let s = 0;
    for (let i = 0; i < b.length; i++) s += Math.max(0, Math.min(b.end(i), to) - Math.max(b.start(i), from));
    return s;
  }
}
