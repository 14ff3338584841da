/**
 * Cover art uploaded next to the audio: checked by content (sharp decodes it), squared and stored as
 * JPEG in the sizes the apps use. Layout: `${coverKey}/${size}.jpg`, coverKey = covers/{trackId}/{uploadId}.
 */
import sharp, { type Metadata } from 'sharp';
import { AppError } from '@platform/errors';
import type { ObjectStore } from '@platform/storage';

export const COVER_SIZES = [96, 300, 600] as const;
export type CoverSize = (typeof COVER_SIZES)[number];
export const COVER_MAX_BYTES = 20 * 1024 * 1024;

export async function storeCover(objects: ObjectStore, coverKey: string, filePath: string): Promise<void> {
  let meta: Metadata;
  try {
    meta = await sharp(filePath, { failOn: 'error', limitInputPixels: 100_000_000 }).metadata();
  } catch {
    throw new AppError('unsupported_format', 'The cover is not an image we can read. Use a JPEG, PNG or WebP.');
  }
  if (!meta.format || !['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif', 'heif'].includes(meta.format)) {
    throw new AppError('unsupported_format', `The cover is ${meta.format ?? 'an unknown format'}; use a JPEG, PNG or WebP.`);
  }
  for (const size of COVER_SIZES) {
    const jpeg = await sharp(filePath, { failOn: 'error' })
      .rotate() // honour EXIF orientation from phone photos
      .resize(size, size, { fit: 'cover', position: 'attention' })
      .flatten({ background: '#000000' })
      .jpeg({ quality: 85, mozjpeg: true })
      .toBuffer();
    await objects.put(`${coverKey}/${size}.jpg`, jpeg, { contentType: 'image/jpeg' });
  }
}

/**
 * Where a given size lives for a cover_key written by anyone (ingest or the packager): a template
 * with `{size}`, a folder of `${size}.jpg`/`.webp`, or one image used for every size.
 */
export function coverKeyCandidates(coverKey: string, size: CoverSize): string[] {
  if (coverKey.includes('{size}')) return [coverKey.replaceAll('{size}', String(size))];
  if (/\.(jpe?g|png|webp)$/i.test(coverKey)) return [coverKey];
  const base = coverKey.replace(/\/+$/, '');
  return [`${base}/${size}.jpg`, `${base}/${size}.webp`, `${base}-${size}.jpg`, `${base}/cover-${size}.jpg`];
}
