/**
 * DASH playback through dash.js (the DASH Industry Forum's reference player), an opt-in engine in the playback
 * settings. It is ~215 KB gzip, so it is a dynamic import fetched only when a listener picks DASH; the default
 * path (hls.js) never downloads it (test/bundle-size.test.ts keeps it out of the default budget and in its own).
 * One codec family per play, as with hls.js (quality.ts): the MPD has one AdaptationSet per codec and the
 * initial track selection keeps the family the quality setting asks for; ABR runs inside it.
 */
import type { MediaPlayerClass } from 'dashjs';
import { familyOf, isPlayable, type Family, type Quality } from './quality';

type DashModule = typeof import('dashjs');
let dashModule: Promise<DashModule> | undefined;
export function loadDash(): Promise<DashModule> {
  dashModule ??= import('dashjs');
  return dashModule;
}

export interface DashCallbacks {
  onRendition(r: { codec: string; bitrateKbps: number }, isSwitch: boolean): void;
  onFamily(family: Family): void;
  onFatal(code: string, detail: string): void;
}

/** The family a quality setting asks for among what this browser plays (lossless -> FLAC, else Opus, else AAC). */
export function dashFamily(codecs: string[], quality: Quality): Family | undefined {
  const playable = codecs.filter((c) => isPlayable(c));
  const fams = new Set(playable.map((c) => familyOf(c)));
  if (quality === 'lossless' && fams.has('flac')) return 'flac';
  return (['opus', 'aac', 'mp3'] as Family[]).find((f) => fams.has(f)) ?? (fams.has('flac') ? 'flac' : undefined);
}

/** dash.js's codec field reads like `audio/mp4;codecs="opus"`. */
const codecOf = (c: string | null | undefined): string => /codecs="?([^";]+)/.exec(c ?? '')?.[1] ?? c ?? '';

export class DashEngine {
  private player?: MediaPlayerClass;
  private reported = false;
  /** Ends a load still waiting for the stream (destroy while loading). */
  private settleLoad?: () => void;

  constructor(
    readonly audio: HTMLAudioElement,
    private readonly cb: DashCallbacks,
  ) {}

  async load(url: string, opts: { quality: Quality; startSec: number; sessionId: string; contentId: string }): Promise<void> {
    const dashjs = await loadDash();
    const player = dashjs.MediaPlayer().create();
    this.player = player;
    const low = opts.quality === 'low';
    const high = opts.quality === 'high' || opts.quality === 'lossless';
    player.updateSettings({
      debug: { logLevel: 2 /* errors only */ },
      streaming: {
        buffer: { bufferTimeAtTopQuality: 30, bufferToKeep: 30 },
        abr: {
          autoSwitchBitrate: { audio: !low && !high },
          initialBitrate: { audio: low ? 1 : high ? 100_000 : 128 },
        },
        cmcd: { enabled: true, sid: opts.sessionId, cid: opts.contentId, mode: 'query' },
      },
    });
    player.setCustomInitialTrackSelectionFunction((tracks) => {
      const fam = dashFamily(tracks.map((t) => codecOf(t.codec)), opts.quality);
      const kept = tracks.filter((t) => familyOf(codecOf(t.codec)) === fam);
      if (fam) this.cb.onFamily(fam);
      return kept.length ? kept : tracks;
    });
    const ev = dashjs.MediaPlayer.events;
    player.on(ev.QUALITY_CHANGE_RENDERED, (e: { mediaType?: string; newRepresentation?: { bandwidth?: number; codecs?: string | null } | null }) => {
      if (e.mediaType && e.mediaType !== 'audio') return;
      const r = e.newRepresentation;
      if (!r) return;
      this.cb.onRendition({ codec: codecOf(r.codecs), bitrateKbps: Math.round((r.bandwidth ?? 0) / 1000) }, this.reported);
      this.reported = true;
    });
    player.on(ev.ERROR, (e: { error?: { code?: number; message?: string } }) => {
      const code = e.error?.code;
      // dash.js retries downloads itself; what reaches ERROR has stopped playback.
      this.cb.onFatal(`dash_${code ?? 'error'}`, 'The audio could not be loaded (DASH). Check your connection and press play again.');
    });
    // dash.js attaches its MediaSource to the element only once the MPD is in: a play() issued before
    // that can be undone by the element's load algorithm (a paused deck that thinks it plays). So the
    // load resolves when the stream is initialized (source attached), on an error (reported above), when
    // destroyed, or after 15 s at the latest.
    const attached = new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        player.off(ev.STREAM_INITIALIZED, done);
        player.off(ev.ERROR, done);
        this.settleLoad = undefined;
        resolve();
      };
      const timer = setTimeout(done, 15_000);
      player.on(ev.STREAM_INITIALIZED, done);
      player.on(ev.ERROR, done);
      this.settleLoad = done;
    });
    player.initialize(this.audio, url, false, opts.startSec > 0 ? opts.startSec : undefined);
    await attached;
  }

  /** Pin or free the bitrate inside the family (a family change needs a reload). */
  applyQuality(quality: Quality, family: Family | undefined): boolean {
    const p = this.player;
    if (!p || !family) return false;
    if ((quality === 'lossless') !== (family === 'flac')) return false;
    const low = quality === 'low';
    const high = quality === 'high' || quality === 'lossless';
    p.updateSettings({ streaming: { abr: { autoSwitchBitrate: { audio: !low && !high } } } });
    if (low || high) {
      const reps = p.getRepresentationsByType('audio');
      const sorted = [...reps].sort((a, b) => (a.bandwidth ?? 0) - (b.bandwidth ?? 0));
      const target = low ? sorted[0] : sorted[sorted.length - 1];
      if (target) p.setRepresentationForTypeById('audio', target.id);
    }
    return true;
  }

  destroy(): void {
    this.settleLoad?.();
    try {
      this.player?.destroy();
    } catch {
      /* already torn down */
    }
    this.player = undefined;
  }
}
