/**
 * Tags as defaults for the upload form: what the musician left blank comes from the file's own
 * RIFF INFO / ID3 (WAV) or Vorbis comments (FLAC). Reading tags never fails an upload.
 */
import { readTags } from '@platform/media';

export interface FileTags {
  title?: string;
  artist?: string;
  album?: string;
  genre?: string;
  trackNumber?: number;
  year?: number;
  isrc?: string;
}

/**
 * RIFF INFO chunks carry no charset; most tools now write UTF-8 there but parsers decode it as
 * Latin-1 ("ÐŸÑ€Ð¸..." for Cyrillic). When every code point fits a byte, some are high, and the
 * bytes form valid UTF-8, the UTF-8 reading is the intended one.
 */
export function repairUtf8(s: string): string {
  if (!/[\u0080-\u00ff]/.test(s) || /[^\u0000-\u00ff]/.test(s)) return s;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(s, 'latin1'));
  } catch {
    return s;
  }
}

const clean = (v: unknown, max = 300): string | undefined => {
  if (typeof v !== 'string') return undefined;
  const s = repairUtf8(v).replace(/[\u0000-\u001f]/g, ' ').trim().slice(0, max);
  return s || undefined;
};

export async function readFileTags(file: string): Promise<FileTags> {
  const t = await readTags(file);
  const isrc = clean(t.isrc, 15)?.toUpperCase().replace(/-/g, '');
  return {
    title: clean(t.title),
    artist: clean(t.artist),
    album: clean(t.album),
    genre: clean(t.genre, 100),
    trackNumber: t.trackNumber && t.trackNumber > 0 && t.trackNumber < 10000 ? t.trackNumber : undefined,
    year: t.year && t.year > 0 && t.year < 10000 ? t.year : undefined,
    isrc: isrc && /^[A-Z]{2}[A-Z0-9]{3}\d{7}$/.test(isrc) ? isrc : undefined,
  };
}
