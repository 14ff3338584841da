/**
 * A deck is one <audio> element with its own hls.js instance and Web Audio gain node. The engine keeps two:
 * the one playing and the one holding the next track, buffered ahead so a track change (and an album's
 * consecutive tracks) starts from memory instead of from the network.
 */
import type HlsType from 'hls.js';
import type { Level } from 'hls.js';
import { planLevels, type LevelPlan, type Quality } from './quality';
import type { Track } from '../lib/types';

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

/**
 * The packager lists every rendition twice in an audio-only master: as an EXT-X-MEDIA audio group and as
 * its own EXT-X-STREAM-INF with AUDIO="group" (FIELD-NOTES). hls.js then treats the group's DEFAULT entry as
 * an alternate audio track and plays THAT, whatever level we pick, while still fetching the level's segments.
 * For audio-only masters we drop the group so every variant is a plain audio level and the level we choose
 * is what is heard (and fetched once). Masters with video are left as they are.
 */
export function flattenAudioOnlyMaster(text: string): string {
  if (!text.includes('#EXT-X-STREAM-INF')) return text; // a media playlist
  const codecs = [...text.matchAll(/#EXT-X-STREAM-INF:[^\n]*CODECS="([^"]*)"/g)].map((m) => m[1]);
  const isAudioOnly = codecs.length > 0 && codecs.every((c) => c.split(',').every((x) => /^(mp4a|opus|flac|fLaC|ac-3|ec-3|mp3)/i.test(x.trim())));
  if (!isAudioOnly) return text;
  return text
    .split('\n')
    .filter((l) => !/^#EXT-X-MEDIA:.*TYPE=AUDIO/.test(l))
    .map((l) => (l.startsWith('#EXT-X-STREAM-INF') ? l.replace(/,AUDIO="[^"]*"/, '') : l))
    .join('\n');
}

type LoaderCtor = new (config: unknown) => { load(context: { type?: string }, config: unknown, callbacks: LoaderCallbacksLike): void };
interface LoaderCallbacksLike {
  onSuccess(response: { data: unknown }, ...rest: unknown[]): void;
  [k: string]: unknown;
}

/** hls.js playlist loader that rewrites the master on the way in (see flattenAudioOnlyMaster). */
function masterRewritingLoader(Base: LoaderCtor): LoaderCtor {
  return class extends Base {
    override load(context: { type?: string }, config: unknown, callbacks: LoaderCallbacksLike): void {
      if (context.type !== 'manifest') return super.load(context, config, callbacks);
      super.load(context, config, {
        ...callbacks,
        onSuccess: (response, ...rest) => {
          if (typeof response.data === 'string') response.data = flattenAudioOnlyMaster(response.data);
          callbacks.onSuccess(response, ...rest);
        },
      });
    }
  };
}

export interface DeckRendition {
  codec: string;
  bitrateKbps: number;
}

export interface DeckCallbacks {
  onRendition(deck: Deck, r: DeckRendition, isSwitch: boolean): void;
  onFatal(deck: Deck, code: string, detail: string): void;
  onPlan(deck: Deck, plan: LevelPlan): void;
}

export class Deck {
  readonly audio: HTMLAudioElement;
  hls?: HlsType;
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

  setGainDb(db: number): void {
    if (this.gain) this.gain.gain.value = Math.pow(10, db / 20);
  }

  reset(): void {
    this.hls?.destroy();
    this.hls = undefined;
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
    if (!Hls.isSupported()) {
      // Safari without MSE: native HLS (it picks AAC itself; FLAC only in fMP4, which we serve).
      if (!this.audio.canPlayType('application/vnd.apple.mpegurl')) {
        this.cb.onFatal(this, 'unsupported_browser', 'This browser cannot play HLS audio. Try a current Chrome, Firefox, Edge or Safari.');
        return;
      }
      this.audio.src = url + (opts.startSec > 0 ? `#t=${opts.startSec}` : '');
      return;
    }
    const hls = new Hls({
      pLoader: masterRewritingLoader(Hls.DefaultConfig.loader as unknown as LoaderCtor) as unknown as typeof Hls.DefaultConfig.pLoader,
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
      const detail =
        status === 403 || status === 401
          ? 'The playback link expired. Press play again.'
          : 'The audio could not be loaded. Check your connection and press play again.';
      this.cb.onFatal(this, String(data.details), detail);
    });
    hls.attachMedia(this.audio);
    hls.loadSource(url);
  }

  /** Switch inside the current family without reloading; returns false when a reload is needed. */
  applyQuality(quality: Quality): boolean {
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

  bufferedAheadSec(): number {
    const t = this.audio.currentTime;
    const b = this.audio.buffered;
    for (let i = 0; i < b.length; i++) if (b.start(i) <= t + 0.05 && b.end(i) >= t) return b.end(i) - t;
    return 0;
  }

  bufferedTotalSec(): number {
    const b = this.audio.buffered;
    let s = 0;
    for (let i = 0; i < b.length; i++) s += b.end(i) - b.start(i);
    return s;
  }
}
