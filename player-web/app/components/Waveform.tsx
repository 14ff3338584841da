/**
 * Seek bar drawn from the track's peaks JSON (GET /api/tracks/:id/peaks) on a canvas. It is a keyboard slider
 * (arrows ±5 s, PageUp/PageDown ±30 s, Home/End) and a pointer target (click or drag, seek on release).
 * Without peaks it draws a flat bar, so seeking never depends on the peaks endpoint.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../lib/api';
import { formatTime } from '../lib/types';

const cache = new Map<string, number[]>();

/** Accepts number[], {peaks}, {data} (audiowaveform min/max pairs) or {channels:[...]}; returns 0..1 values. */
export function normalizePeaks(raw: unknown): number[] {
  const o = raw as Record<string, unknown> | unknown[] | null;
  let arr: unknown = Array.isArray(o) ? o : (o?.peaks ?? o?.data ?? o?.samples);
  if (!Array.isArray(arr) && o && !Array.isArray(o) && Array.isArray(o.channels)) arr = (o.channels as unknown[])[0];
  if (!Array.isArray(arr)) return [];
  let nums = (arr as unknown[]).map((v) => (Array.isArray(v) ? Math.max(...v.map((x) => Math.abs(Number(x)))) : Math.abs(Number(v)))).filter(Number.isFinite);
  // audiowaveform format interleaves min,max: fold pairs.
  if (o && !Array.isArray(o) && Array.isArray(o.data) && typeof o.bits === 'number') {
    const folded: number[] = [];
    for (let i = 0; i + 1 < nums.length; i += 2) folded.push(Math.max(nums[i], nums[i + 1]));
    nums = folded;
  }
  const max = nums.reduce((m, v) => Math.max(m, v), 0) || 1;
  return nums.map((v) => v / max);
}

export function Waveform({ trackId, position, duration, buffered, onSeek }: { trackId?: string; position: number; duration: number; buffered: number; onSeek: (sec: number) => void }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [peaks, setPeaks] = useState<number[]>([]);
  const [drag, setDrag] = useState<number | null>(null);

  useEffect(() => {
    if (!trackId) return setPeaks([]);
    const hit = cache.get(trackId);
    if (hit) return setPeaks(hit);
    setPeaks([]);
    const ac = new AbortController();
    api(`/api/tracks/${encodeURIComponent(trackId)}/peaks`, { signal: ac.signal })
      .then((raw) => {
        const p = normalizePeaks(raw);
        cache.set(trackId, p);
        setPeaks(p);
      })
      .catch(() => {});
    return () => ac.abort();
  }, [trackId]);

  const shown = drag ?? position;
  useEffect(() => {
    const c = canvas.current;
    if (!c) return;
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth;
    const h = c.clientHeight;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    const g = c.getContext('2d');
    if (!g || !w) return;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const progress = duration > 0 ? shown / duration : 0;
    const bufferedFrac = duration > 0 ? Math.min(1, (position + buffered) / duration) : 0;
    const bar = 3;
    const gap = 1;
    const n = Math.max(1, Math.floor(w / (bar + gap)));
    for (let i = 0; i < n; i++) {
      const frac = i / n;
      const v = peaks.length ? peaks[Math.min(peaks.length - 1, Math.floor(frac * peaks.length))] : 0.18;
      const bh = Math.max(2, v * (h - 4));
      g.fillStyle = frac < progress ? '#30c48d' : frac < bufferedFrac ? '#6b7280' : '#3a3f4b';
      g.fillRect(i * (bar + gap), (h - bh) / 2, bar, bh);
    }
  }, [peaks, shown, duration, buffered, position]);

  const secAt = (clientX: number) => {
    const r = canvas.current!.getBoundingClientRect();
    return Math.max(0, Math.min(1, (clientX - r.left) / r.width)) * duration;
  };

  return (
    <canvas
      ref={canvas}
      class="waveform"
      data-testid="waveform"
      role="slider"
      tabIndex={0}
      aria-label="Seek"
      aria-valuemin={0}
      aria-valuemax={Math.round(duration)}
      aria-valuenow={Math.round(shown)}
      aria-valuetext={`${formatTime(shown * 1000)} of ${formatTime(duration * 1000)}`}
      onPointerDown={(e) => {
        if (!duration) return;
        e.currentTarget.setPointerCapture(e.pointerId);
        setDrag(secAt(e.clientX));
      }}
      onPointerMove={(e) => drag !== null && setDrag(secAt(e.clientX))}
      onPointerUp={(e) => {
        if (drag === null) return;
        onSeek(secAt(e.clientX));
        setDrag(null);
      }}
      onPointerCancel={() => setDrag(null)}
      onKeyDown={(e) => {
        const step = { ArrowLeft: -5, ArrowRight: 5, ArrowDown: -5, ArrowUp: 5, PageDown: -30, PageUp: 30 }[e.key];
        if (step !== undefined) onSeek(position + step);
        else if (e.key === 'Home') onSeek(0);
        else if (e.key === 'End') onSeek(duration - 1);
        else return;
        e.preventDefault();
        e.stopPropagation();
      }}
    />
  );
}
