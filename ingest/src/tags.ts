/**
 * Tags as defaults for the upload form: what the musician left blank comes from the file's own
 * RIFF INFO / ID3 (WAV) or Vorbis comments (FLAC). Reading tags never fails an upload.
 */
import { parseFile } from 'music-metadata';

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
  try {
    const { common } = await parseFile(file, { duration: false, skipCovers: true });
    const year = common.year && common.year > 0 && common.year < 10000 ? common.year : undefined;
    const isrc = clean(common.isrc?.[0], 12)?.toUpperCase().replace(/-/g, '');
    return {
      title: clean(common.title),
      artist: clean(common.artist ?? common.albumartist),
      album: clean(common.album),
      genre: clean(common.genre?.[0], 100),
      trackNumber: common.track?.no && common.track.no > 0 ? common.track.no : undefined,
      year,
      isrc: isrc && /^[A-Z]{2}[A-Z0-9]{3}\d{7}$/.test(isrc) ? isrc : undefined,
    };
  } catch {
    return {};
  }
}
