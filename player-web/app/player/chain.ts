/**
 * Gapless album playback: consecutive tracks appended to ONE MediaSource / SourceBuffer, each placed on the
 * element's timeline right after the previous one's last real sample. hls.js gives every track its own
 * MediaSource, so a join there is an element switch plus the encoder's priming and padding (measured 39 ms of
 * near-silence and a click on the e2e sine; see e2e/gapless.test.ts); here there is no switch and no extra
 * audio at all:
 * - priming: read from the init segment (edit list media_time; Opus pre-skip; AAC-LC 1024) and trimmed by
 *   `timestampOffset = start - priming` with `appendWindowStart = start` (browsers trim audio frames
 *   sample-accurately at append windows, keeping the dropped frame as decoder pre-roll). The init's edit list
 *   is neutralized first so no browser applies it a second time.
 * - padding: each media segment's own timing (tfdt + sample durations) gives the exact end; the last segment
 *   is appended with `appendWindowEnd` there, and the next track starts at exactly that time.
 * - the next track is asked for (nextItem) when the current one is fully appended, i.e. buffered ahead.
 *
 * It is a small fMP4 HLS loader: master -> one codec family (quality.ts plan, same as hls.js decks), throughput
 * ABR inside the family, 30 s forward buffer, back buffer evicted, seeks inside any chained track, retries,
 * CMCD as query parameters. MP3-in-TS renditions are never chosen (no fMP4 init to read).
 */
import { parseFragment, parseInit, withoutEditList, withWholeLastFrame, type InitInfo } from './mp4';
import { parseMaster, parseMediaPlaylist, type MediaPlaylist, type Variant } from './playlists';
import { familyOf, planLevels, type Family, type LevelPlan, type Quality } from './quality';
import type { Track } from '../lib/types';
import { loadFailureText } from './load-errors';

export interface ChainItem {
  track: Track;
  masterUrl: string;
  /** beacon view id of this track's play */
  viewId: string;
  /** position in the player's play order (engine bookkeeping) */
  cursor: number;
}

export interface ChainRendition {
  codec: string;
  bitrateKbps: number;
}

export interface ChainCallbacks {
  /** The playhead entered another chained track (never called for the first). */
  onAdvance(item: ChainItem, previousDurationSec: number): void;
  onRendition(r: ChainRendition, isSwitch: boolean): void;
  onPlan(plan: LevelPlan): void;
  onFatal(code: string, detail: string): void;
  /** The last chained track is fully buffered: what plays right after it, gaplessly (undefined = nothing). */
  nextItem(after: ChainItem): Promise<ChainItem | undefined>;
}

interface Level {
  variant: Variant;
  playlist?: Promise<MediaPlaylist>;
  init?: Promise<{ info: InitInfo; data: ArrayBuffer }>;
}

interface Entry {
  item: ChainItem;
  variants: Variant[];
  levels: Map<number, Level>;
  plan: LevelPlan;
  /** Start of the track's first real sample on the element timeline, seconds. */
  start: number;
  /** Exact once its last segment was appended; the playlist's estimate before. */
  duration: number;
  isExact: boolean;
  /** Level of the last appended segment (index into variants). */
  level?: number;
  /** Segment count of the chosen family (levels of one family are segmented alike). */
  segments?: number;
}

const MAX_AHEAD_SEC = 30;
const BACK_BUFFER_SEC = 30;
const RETRIES = 4;

class HttpError extends Error {
  constructor(readonly status: number, url: string) {
    super(`HTTP ${status} for ${url}`);
  }
}

function mimeFor(codecs: string): string {
  return `audio/mp4; codecs="${familyOf(codecs) === 'flac' ? 'flac' : codecs}"`;
}

export function canChain(): boolean {
  const MS = (globalThis as { MediaSource?: typeof MediaSource }).MediaSource;
  return !!MS && typeof MS.isTypeSupported === 'function';
}

export class GaplessChain {
  private readonly ms = new MediaSource();
  private sb?: SourceBuffer;
  private entries: Entry[] = [];
  private playing = 0;
  private isDestroyed = false;
  private pendingStart: number | undefined;
  private last?: { entry: number; seg: number; end: number };
  private appendedInit?: { entry: number; level: number };
  private askedNext = new Set<number>();
  private wake?: () => void;
  private fetchAbort?: AbortController;
  private throughputBps = 0;
  private reportedLevel?: string;
  private segStarts = new WeakMap<Entry, number[]>();
  private advanceTimer?: ReturnType<typeof setTimeout>;
  private objectUrl: string;
  private readonly onTime = () => this.checkAdvance();
  private readonly onSeeking = () => {
    // A seek outside what is buffered: stop fetching the old position's segment and look again.
    if (!this.isBuffered(this.audio.currentTime)) this.fetchAbort?.abort();
    this.poke();
  };

  constructor(
    readonly audio: HTMLAudioElement,
    private readonly cb: ChainCallbacks,
    private quality: Quality,
    private readonly cmcd: { sessionId: () => string; contentId: () => string },
  ) {
    this.objectUrl = URL.createObjectURL(this.ms);
  }

  /** Attaches to the element and starts buffering `first` at `startSec`. */
  async start(first: ChainItem, startSec: number): Promise<void> {
    // Open the MediaSource while the playlists load (both take a few ms; startup is their sum otherwise).
    const opened = new Promise<void>((resolve) => this.ms.addEventListener('sourceopen', () => resolve(), { once: true }));
    this.audio.src = this.objectUrl;
    const [entry] = await Promise.all([this.prepare(first, 0), opened]);
    if (this.isDestroyed || !entry) return;
    this.entries.push(entry);
    this.pendingStart = startSec > 0 ? startSec : undefined;
    const lvl = this.chooseLevel(entry);
    this.sb = this.ms.addSourceBuffer(mimeFor(entry.variants[lvl].codecs));
    this.ms.duration = entry.duration;
    this.audio.addEventListener('timeupdate', this.onTime);
    this.audio.addEventListener('seeking', this.onSeeking);
    this.audio.addEventListener('playing', this.onTime);
    void this.pump();
  }

  destroy(): void {
    this.isDestroyed = true;
    this.fetchAbort?.abort();
    this.poke();
    clearTimeout(this.advanceTimer);
    this.audio.removeEventListener('timeupdate', this.onTime);
    this.audio.removeEventListener('seeking', this.onSeeking);
    this.audio.removeEventListener('playing', this.onTime);
    URL.revokeObjectURL(this.objectUrl);
  }

  /** The chained track under the playhead. */
  current(): ChainItem | undefined {
    return this.entries[this.playing]?.item;
  }

  /** Seconds into the track under the playhead. */
  position(): number {
    const e = this.entries[this.playing];
    return e ? Math.max(0, this.audio.currentTime - e.start) : 0;
  }

  duration(): number {
    return this.entries[this.playing]?.duration ?? 0;
  }

  seek(sec: number): void {
    const e = this.entries[this.playing];
    if (e) this.audio.currentTime = e.start + sec;
  }

  /** Where the playing track's priming figure came from and how big it was (debug / e2e). */
  debugInfo(): { start: number; duration: number; isExact: boolean; trackId: string }[] {
    return this.entries.map((e) => ({ start: e.start, duration: e.duration, isExact: e.isExact, trackId: e.item.track.id }));
  }

  /** A quality inside the playing family applies from the next segment; another family needs a reload (false). */
  setQuality(q: Quality): boolean {
    const e = this.entries[this.playing];
    if (!e) return false;
    const plan = planLevels(this.levelsOf(e.variants), q);
    if (!plan || plan.family !== e.plan.family) return false;
    this.quality = q;
    for (const x of this.entries) {
      const p = planLevels(this.levelsOf(x.variants), q);
      if (p && p.family === e.plan.family) x.plan = p;
    }
    this.cb.onPlan(plan);
    return true;
  }

  get family(): Family | undefined {
    return this.entries[this.playing]?.plan.family;
  }

  // -------------------------------------------------------------------------------------------------------

  private levelsOf(variants: Variant[]) {
    // Only fMP4 families can be chained (MP3 comes in TS): give TS variants no chance to be planned.
    return variants.map((v) => ({ codec: familyOf(v.codecs) === 'mp3' ? 'unplayable/ts' : v.codecs, bitrate: v.bandwidth }));
  }

  private async prepare(item: ChainItem, start: number, family?: Family): Promise<Entry | undefined> {
    const text = await this.fetchText(item.masterUrl);
    const variants = parseMaster(text, item.masterUrl);
    const levels = this.levelsOf(variants);
    let plan = planLevels(levels, this.quality);
    if (plan && family && plan.family !== family) {
      // Keep the family of the chain when the next track offers it (no changeType at the join).
      const same = planLevels(levels.map((l) => (familyOf(l.codec) === family ? l : { ...l, codec: 'unplayable/other' })), this.quality);
      if (same) plan = same;
    }
    if (!plan) {
      if (start === 0) this.cb.onFatal('no_playable_rendition', 'None of this track\u2019s audio formats plays in this browser.');
      return undefined;
    }
    const estimate = (item.track.durationMs ?? 0) / 1000;
    const entry: Entry = { item, variants, levels: new Map(), plan, start, duration: estimate, isExact: false };
    // The playlist's duration is a better estimate than the catalog's milliseconds (and gives the segment count).
    const pl = await this.level(entry, plan.pinned ?? plan.start).playlist!;
    entry.duration = pl.duration || estimate;
    entry.segments = pl.segments.length;
    this.segStarts.set(entry, pl.segments.map((s) => s.start));
    if (start === 0) this.cb.onPlan(plan);
    return entry;
  }

  private level(entry: Entry, index: number): Level {
    let l = entry.levels.get(index);
    if (!l) {
      const variant = entry.variants[index];
      l = { variant };
      l.playlist = this.fetchText(variant.uri).then((t) => parseMediaPlaylist(t, variant.uri));
      const pl = l.playlist;
      l.init = pl.then(async (p) => {
        const data = await this.fetchBytes(p.initUri, 'i');
        return { info: parseInit(data), data: withoutEditList(data) };
      });
      // Failures surface where they are awaited; keep unhandled-rejection noise out of the console.
      l.playlist.catch(() => {});
      l.init.catch(() => {});
      entry.levels.set(index, l);
    }
    return l;
  }

  private chooseLevel(entry: Entry): number {
    const { plan } = entry;
    if (plan.pinned !== undefined) return plan.pinned;
    if (!this.throughputBps) return entry.level ?? plan.start;
    // Highest level of the family whose average rate fits in 70 % of the measured throughput.
    let best = plan.keep[0];
    for (const i of plan.keep) if (entry.variants[i].averageBandwidth <= this.throughputBps * 0.7) best = i;
    return best;
  }

  private poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private waitForChange(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => this.poke(), ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  private isBuffered(t: number): boolean {
    const b = this.sb?.buffered;
    if (!b) return false;
    for (let i = 0; i < b.length; i++) if (b.start(i) - 0.05 <= t && t < b.end(i) - 0.05) return true;
    return false;
  }

  /** The end of the buffered range that holds `t` (or t itself). */
  private bufferedEnd(t: number): number {
    const b = this.sb?.buffered;
    if (!b) return t;
    for (let i = 0; i < b.length; i++) if (b.start(i) - 0.1 <= t && t <= b.end(i) + 0.01) return Math.max(t, b.end(i));
    return t;
  }

  private locate(t: number): { entry: number; seg: number } {
    let i = 0;
    while (i + 1 < this.entries.length && this.entries[i + 1].start <= t + 1e-4) i++;
    const e = this.entries[i];
    const local = t - e.start;
    if (e.isExact && local >= e.duration - 1e-3) return { entry: i + 1, seg: 0 };
    return { entry: i, seg: this.segmentAt(e, local) };
  }

  private segmentAt(e: Entry, local: number): number {
    const starts = this.segStarts.get(e) ?? [];
    let k = 0;
    while (k + 1 < starts.length && starts[k + 1] <= local + 1e-3) k++;
    return starts.length ? k : 0;
  }

  private async pump(): Promise<void> {
    while (!this.isDestroyed) {
      try {
        const t = this.pendingStart !== undefined ? this.entries[0].start + this.pendingStart : this.audio.currentTime;
        const end = this.pendingStart !== undefined ? t : this.bufferedEnd(t);
        if (end - t > MAX_AHEAD_SEC) {
          await this.waitForChange(1000);
          continue;
        }
        // Continue after the last appended segment when it ends at (or, after a short seek forward, a little
        // before) the point to fill: segment starts from EXTINF are rounded, and looking the point up by them
        // could pick the segment just appended again, forever.
        const follows = this.last && this.last.end <= end + 0.02 && this.last.end >= end - 0.5;
        let next = follows && this.last ? { entry: this.last.entry, seg: this.last.seg + 1 } : this.locate(end);
        const e = this.entries[next.entry];
        if (e && next.seg >= (e.segments ?? 0)) next = { entry: next.entry + 1, seg: 0 };
        if (next.entry >= this.entries.length) {
          const lastIdx = this.entries.length - 1;
          if (!this.askedNext.has(lastIdx)) {
            this.askedNext.add(lastIdx);
            await this.extend(lastIdx);
            continue;
          }
          this.endStream();
          await this.waitForChange(1000);
          continue;
        }
        await this.loadSegment(next.entry, next.seg);
      } catch (err) {
        if (this.isDestroyed) return;
        if ((err as Error).name === 'AbortError') continue; // a seek moved us elsewhere
        const status = err instanceof HttpError ? err.status : 0;
        this.cb.onFatal(
          status ? `http_${status}` : 'chain_error',
          loadFailureText(status),
        );
        console.warn('gapless chain stopped', err);
        return;
      }
    }
  }

  private endStream(): void {
    if (this.ms.readyState === 'open' && this.sb && !this.sb.updating) {
      try {
        this.ms.endOfStream();
      } catch {
        /* already ended */
      }
    }
  }

  private async extend(lastIdx: number): Promise<void> {
    const prev = this.entries[lastIdx];
    const item = await this.cb.nextItem(prev.item);
    if (!item || this.isDestroyed) return;
    // The previous track's end is exact once its last segment is in (it is: that is why we were asked).
    const entry = await this.prepare(item, prev.start + prev.duration, prev.plan.family);
    if (!entry || this.isDestroyed) return;
    if (entry.plan.family !== prev.plan.family && typeof this.sb?.changeType !== 'function') return; // ends here; the engine plays it next
    this.entries.push(entry);
    this.scheduleAdvance();
  }

  private async loadSegment(ei: number, k: number): Promise<void> {
    const e = this.entries[ei];
    const li = this.chooseLevel(e);
    const level = this.level(e, li);
    const pl = await level.playlist!;
    if (!this.segStarts.has(e)) this.segStarts.set(e, pl.segments.map((s) => s.start));
    e.segments = pl.segments.length;
    const seg = pl.segments[k];
    const began = performance.now();
    // The init (cached per level) and the segment load side by side.
    const [init, data] = await Promise.all([level.init!, this.fetchBytes(seg.uri, 'a', e.variants[li].bandwidth)]);
    const secs = (performance.now() - began) / 1000;
    if (data.byteLength > 16_000 && secs > 0.001) {
      const bps = (data.byteLength * 8) / secs;
      this.throughputBps = this.throughputBps ? 0.7 * this.throughputBps + 0.3 * bps : bps;
    }
    const timing = parseFragment(data);
    const ts = init.info.timescale;
    const priming = init.info.primingSamples / ts;
    const localEnd = (timing.baseTime + timing.duration) / ts - priming;
    const sb = this.sb!;
    if (!this.appendedInit || this.appendedInit.entry !== ei || this.appendedInit.level !== li) {
      const prevCodecs = this.appendedInit ? this.entries[this.appendedInit.entry].variants[this.appendedInit.level].codecs : undefined;
      const codecs = e.variants[li].codecs;
      if (prevCodecs && familyOf(prevCodecs) !== familyOf(codecs)) {
        await this.idle();
        sb.changeType(mimeFor(codecs));
      }
      await this.append(init.data);
      this.appendedInit = { entry: ei, level: li };
    }
    await this.idle();
    // The trim: this track's media time 0 (priming included) lands `priming` before its start on the timeline.
    sb.timestampOffset = e.start - priming;
    sb.appendWindowEnd = Infinity;
    sb.appendWindowStart = e.start;
    sb.appendWindowEnd = e.start + localEnd;
    const isLast = k === pl.segments.length - 1;
    if (isLast) {
      e.duration = localEnd;
      e.isExact = true;
    }
    // The last frame's padding: cut by the append window once the frame is whole again (see withWholeLastFrame).
    const hasFixedFrames = init.info.sampleEntry === 'mp4a' || init.info.sampleEntry === 'Opus';
    await this.append(isLast && hasFixedFrames ? withWholeLastFrame(data) : data);
    this.last = { entry: ei, seg: k, end: e.start + localEnd };
    e.level = li;
    // One report per rendition change (same family, n-th level), not per track.
    const key = `${familyOf(e.variants[li].codecs)}:${e.plan.keep.indexOf(li)}`;
    if (key !== this.reportedLevel) {
      const isSwitch = this.reportedLevel !== undefined;
      this.reportedLevel = key;
      this.cb.onRendition({ codec: e.variants[li].codecs, bitrateKbps: Math.round(e.variants[li].bandwidth / 1000) }, isSwitch);
    }
    if (this.pendingStart !== undefined) {
      this.audio.currentTime = this.entries[0].start + this.pendingStart;
      this.pendingStart = undefined;
    }
    await this.evictBackBuffer();
  }

  private async evictBackBuffer(): Promise<void> {
    const b = this.sb?.buffered;
    if (!b || !b.length) return;
    const cut = this.audio.currentTime - BACK_BUFFER_SEC;
    if (b.start(0) < cut - 10) {
      await this.idle();
      this.sb!.remove(0, cut);
      await this.idle();
    }
  }

  private idle(): Promise<void> {
    const sb = this.sb!;
    if (!sb.updating) return Promise.resolve();
    return new Promise((resolve) => sb.addEventListener('updateend', () => resolve(), { once: true }));
  }

  private async append(data: ArrayBuffer): Promise<void> {
    const sb = this.sb!;
    for (let attempt = 0; ; attempt++) {
      await this.idle();
      if (this.isDestroyed) return;
      try {
        const done = new Promise<void>((resolve, reject) => {
          const ok = () => {
            sb.removeEventListener('error', bad);
            resolve();
          };
          const bad = () => {
            sb.removeEventListener('updateend', ok);
            reject(new Error('SourceBuffer append failed'));
          };
          sb.addEventListener('updateend', ok, { once: true });
          sb.addEventListener('error', bad, { once: true });
        });
        sb.appendBuffer(data);
        await done;
        return;
      } catch (err) {
        // Full: drop what was played and try again once.
        if ((err as Error).name !== 'QuotaExceededError' || attempt > 0) throw err;
        await this.idle();
        sb.remove(0, Math.max(0, this.audio.currentTime - 5));
        await this.idle();
      }
    }
  }

  /** Fires onAdvance at the join (timeupdate alone is ~250 ms late). */
  private scheduleAdvance(): void {
    clearTimeout(this.advanceTimer);
    const nextEntry = this.entries[this.playing + 1];
    if (!nextEntry || this.audio.paused) return;
    const ms = ((nextEntry.start - this.audio.currentTime) / (this.audio.playbackRate || 1)) * 1000;
    this.advanceTimer = setTimeout(() => this.checkAdvance(), Math.max(0, ms + 5));
  }

  private checkAdvance(): void {
    if (this.isDestroyed || this.pendingStart !== undefined) return;
    const t = this.audio.currentTime;
    let i = 0;
    while (i + 1 < this.entries.length && this.entries[i + 1].start <= t + 5e-4) i++;
    if (i !== this.playing) {
      const prev = this.entries[this.playing];
      this.playing = i;
      if (i > 0) this.cb.onAdvance(this.entries[i].item, prev.duration);
    }
    this.scheduleAdvance();
  }

  private cmcdQuery(ot: 'm' | 'i' | 'a', br?: number): string {
    const bl = Math.max(0, Math.round((this.bufferedEnd(this.audio.currentTime) - this.audio.currentTime) * 10) * 100);
    const keys = [`bl=${bl}`, ...(br ? [`br=${Math.round(br / 1000)}`] : []), `cid="${this.cmcd.contentId()}"`, `ot=${ot}`, 'sf=h', `sid="${this.cmcd.sessionId()}"`];
    return `CMCD=${encodeURIComponent(keys.join(','))}`;
  }

  private withCmcd(url: string, ot: 'm' | 'i' | 'a', br?: number): string {
    return url + (url.includes('?') ? '&' : '?') + this.cmcdQuery(ot, br);
  }

  /** Only segment fetches are abortable (by a seek); playlists and inits are shared promises. */
  private async fetchWithRetry(url: string, isAbortable = false): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      const ac = new AbortController();
      if (isAbortable) this.fetchAbort = ac;
      try {
        const res = await fetch(url, { signal: ac.signal });
        if (res.ok) return res;
        // 4xx other than 408/429 will not get better by asking again.
        if ((res.status < 500 && res.status !== 408 && res.status !== 429) || attempt >= RETRIES) throw new HttpError(res.status, url);
      } catch (err) {
        if (err instanceof HttpError || (err as Error).name === 'AbortError' || attempt >= RETRIES || this.isDestroyed) throw err;
      }
      await new Promise((r) => setTimeout(r, Math.min(8000, 500 * 2 ** attempt)));
    }
  }

  private async fetchText(url: string): Promise<string> {
    return (await this.fetchWithRetry(this.withCmcd(url, 'm'))).text();
  }

  private async fetchBytes(url: string, ot: 'i' | 'a', br?: number): Promise<ArrayBuffer> {
    return (await this.fetchWithRetry(this.withCmcd(url, ot, br), ot === 'a')).arrayBuffer();
  }
}
