/**
 * Which renditions a listener gets. hls.js orders levels by BANDWIDTH and its ABR would happily jump from
 * Opus to FLAC (FIELD-NOTES), so we pick ONE codec family per play and remove the other levels before loading:
 * - auto: Opus when MSE plays it (better quality per bit), else AAC; ABR adapts inside the family, and a slow
 *   or data-saving connection starts at the lowest level.
 * - low / high: the lowest / highest level of that family, pinned.
 * - lossless: FLAC when offered and playable, else the highest lossy level.
 */
export type Quality = 'auto' | 'low' | 'high' | 'lossless';
export type Family = 'opus' | 'aac' | 'mp3' | 'flac' | 'other';

export const QUALITY_LABELS: Record<Quality, string> = {
  auto: 'Auto',
  low: 'Data saver',
  high: 'High',
  lossless: 'Lossless (FLAC)',
};

export function familyOf(codec: string | undefined): Family {
  const c = (codec ?? '').toLowerCase();
  if (c.includes('opus')) return 'opus';
  if (c.includes('flac')) return 'flac';
  if (c.includes('mp4a.40.34') || c.includes('mp3') || c.includes('mp4a.6b')) return 'mp3';
  if (c.includes('mp4a')) return 'aac';
  return 'other';
}

export function isPlayable(codec: string): boolean {
  const MS = (globalThis as { MediaSource?: typeof MediaSource; ManagedMediaSource?: typeof MediaSource }).MediaSource ??
    (globalThis as { ManagedMediaSource?: typeof MediaSource }).ManagedMediaSource;
  if (!MS) return false;
  const fam = familyOf(codec);
  const mime = fam === 'mp3' ? 'audio/mpeg' : `audio/mp4; codecs="${fam === 'flac' ? 'flac' : codec}"`;
  try {
    return MS.isTypeSupported(mime) || (fam === 'mp3' && MS.isTypeSupported('audio/mp4; codecs="mp3"'));
  } catch {
    return false;
  }
}

export function isSlowConnection(): boolean {
  const c = (navigator as Navigator & { connection?: { saveData?: boolean; effectiveType?: string; downlink?: number } }).connection;
  if (!c) return false;
  return !!c.saveData || c.effectiveType === 'slow-2g' || c.effectiveType === '2g' || (typeof c.downlink === 'number' && c.downlink > 0 && c.downlink < 0.4);
}

export interface LevelLike {
  codec: string;
  bitrate: number;
}

export interface LevelPlan {
  family: Family;
  /** indexes of the levels to keep, ascending bitrate */
  keep: number[];
  /** index (into the ORIGINAL list) to start with */
  start: number;
  /** pin to this original index, or undefined for ABR inside the family */
  pinned?: number;
  /** true when the asked quality was not available and we fell back */
  fellBack: boolean;
}

export function planLevels(levels: LevelLike[], quality: Quality, playable: (codec: string) => boolean = isPlayable, slow: boolean = isSlowConnection()): LevelPlan | undefined {
  const byFamily = new Map<Family, number[]>();
  levels.forEach((l, i) => {
    if (!playable(l.codec)) return;
    const f = familyOf(l.codec);
    byFamily.set(f, [...(byFamily.get(f) ?? []), i]);
  });
  for (const list of byFamily.values()) list.sort((a, b) => levels[a].bitrate - levels[b].bitrate);
  const lossy = (['opus', 'aac', 'mp3', 'other'] as Family[]).find((f) => byFamily.has(f));
  let family: Family | undefined = lossy;
  let fellBack = false;
  if (quality === 'lossless') {
    if (byFamily.has('flac')) family = 'flac';
    else fellBack = true;
  }
  if (!family) family = byFamily.has('flac') ? 'flac' : undefined;
  if (!family) return undefined;
  const keep = byFamily.get(family)!;
  const lowest = keep[0];
  const highest = keep[keep.length - 1];
  if (quality === 'low') return { family, keep, start: lowest, pinned: lowest, fellBack };
  if (quality === 'high' || quality === 'lossless') return { family, keep, start: highest, pinned: highest, fellBack };
  // auto: begin near 128 kbps (a fast first segment that already sounds good), lowest on slow links.
  const start = slow
    ? lowest
    : keep.reduce((best, i) => (Math.abs(levels[i].bitrate - 128_000) < Math.abs(levels[best].bitrate - 128_000) ? i : best), lowest);
  return { family, keep, start, fellBack };
}
