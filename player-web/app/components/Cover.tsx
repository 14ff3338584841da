/** Track artwork with fixed dimensions (no layout jump); a generated gradient stands in when there is none. */
import { useState } from 'preact/hooks';
import { coverUrl, type Track } from '../lib/types';

function hue(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) >>> 0;
  return h % 360;
}

export function Cover({ track, size = 96, px = 48 }: { track: Pick<Track, 'id' | 'album' | 'title' | 'hasCover'>; size?: 96 | 300 | 600; px?: number }) {
  // Only request a cover the API says exists: false would 404, and lists that do not carry the field
  // (missing = unknown) get the gradient rather than a likely 404.
  const [failed, setFailed] = useState(false);
  const show = track.hasCover === true && !failed;
  const h = hue(track.album ?? track.title ?? track.id);
  return (
    <span class="cover" style={{ width: `${px}px`, height: `${px}px`, background: `linear-gradient(135deg, hsl(${h} 55% 42%), hsl(${(h + 50) % 360} 60% 24%))` }} aria-hidden="true">
      {show && <img src={coverUrl(track, size)} width={px} height={px} alt="" loading="lazy" decoding="async" onError={() => setFailed(true)} />}
    </span>
  );
}
