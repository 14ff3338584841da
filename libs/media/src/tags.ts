/** Tags (music-metadata) and cover art (sharp). Text stays UTF-8 end to end, Cyrillic included. */
import { parseFile } from 'music-metadata';
import sharp from 'sharp';
import { AppError } from '@platform/errors';

export interface EmbeddedPicture {
  mimeType: string;
  data: Buffer;
}

export interface TrackTags {
  title?: string;
  artist?: string;
  album?: string;
  trackNumber?: number;
  year?: number;
  genre?: string;
  isrc?: string;
  picture?: EmbeddedPicture;
}

const clean = (v: string | undefined | null): string | undefined => {
  const t = v?.replace(/\0/g, '').trim();
  return t ? t : undefined;
};

/** Read the tags a musician already wrote (Vorbis comments, RIFF INFO, ID3 in WAV) as defaults for the form. */
export async function readTags(file: string): Promise<TrackTags> {
  let common;
  try {
    ({ common } = await parseFile(file, { duration: false, skipCovers: false }));
  } catch {
    // Tags are a convenience: an unreadable tag block must not fail an otherwise valid upload.
    return {};
  }
  const pic = common.picture?.find((p) => p.type?.toLowerCase().includes('front')) ?? common.picture?.[0];
  return {
    title: clean(common.title),
    artist: clean(common.artist ?? common.artists?.join(', ')),
    album: clean(common.album),
    trackNumber: common.track?.no ?? undefined,
    year: common.year ?? undefined,
    genre: clean(common.genre?.[0]),
    isrc: clean(common.isrc?.[0])?.replace(/-/g, '').toUpperCase(),
    picture: pic ? { mimeType: pic.format, data: Buffer.from(pic.data) } : undefined,
  };
}

export const COVER_SIZES = [96, 300, 600] as const;

export interface RenderedCover {
  size: number;
  /** Always JPEG: every player and browser shows it. */
  mimeType: 'image/jpeg';
  data: Buffer;
}

/** Square JPEG thumbnails (centre crop) of any image sharp reads; never enlarged beyond the source. */
export async function renderCovers(image: Buffer, sizes: readonly number[] = COVER_SIZES): Promise<RenderedCover[]> {
  let meta;
  try {
    meta = await sharp(image).metadata();
  } catch (e) {
    throw new AppError('unsupported_format', 'The cover image cannot be read. Upload a JPEG, PNG or WebP picture.', { cause: e });
  }
  const side = Math.min(meta.width ?? 0, meta.height ?? 0);
  if (!side) throw new AppError('unsupported_format', 'The cover image has no size. Upload a JPEG, PNG or WebP picture.');
  return Promise.all(
    sizes.map(async (size) => {
      const data = await sharp(image)
        .rotate() // honour EXIF orientation
        .resize(size, size, { fit: 'cover', withoutEnlargement: true })
        .flatten({ background: '#000' })
        .jpeg({ quality: 85, mozjpeg: true })
        .toBuffer();
      return { size, mimeType: 'image/jpeg' as const, data };
    }),
  );
}
