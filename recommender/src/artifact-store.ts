/**
 * Versioned model artifacts in object storage: `models/recs/{version}/model.json.gz`, plus
 * `models/recs/latest.json` naming the newest. The pointer is written last, so a reader never sees
 * a version whose model is not fully stored (each put is atomic on its own).
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import type { ObjectStore } from '@platform/storage';
import { ZRecsArtifact, ZRecsLatest, type TRecsArtifact, type TRecsLatest } from '@platform/models';

export const RECS_PREFIX = 'models/recs/';
const LATEST_KEY = `${RECS_PREFIX}latest.json`;

/** Sortable, path-safe version from a time: 20261126T041500123Z. */
export function versionFor(now: Date): string {
  return now.toISOString().replace(/[-:.]/g, '');
}

export async function saveArtifact(objects: ObjectStore, artifact: TRecsArtifact): Promise<TRecsLatest> {
  return saveEncodedArtifact(objects, artifact, encodeArtifact(artifact));
}

/** The stored bytes (gzipped JSON). CPU-heavy at scale: the training worker calls it off the main thread. */
export function encodeArtifact(artifact: TRecsArtifact): Buffer {
  return gzipSync(Buffer.from(JSON.stringify(artifact)));
}

/** Store bytes made by encodeArtifact (only I/O here), then move the pointer. */
export async function saveEncodedArtifact(objects: ObjectStore, meta: Pick<TRecsArtifact, 'version' | 'model' | 'trainedAt'>, gz: Uint8Array): Promise<TRecsLatest> {
  const key = `${RECS_PREFIX}${meta.version}/model.json.gz`;
  await objects.put(key, Buffer.from(gz.buffer, gz.byteOffset, gz.byteLength), { contentType: 'application/gzip', metadata: { model: meta.model } });
  const latest: TRecsLatest = { version: meta.version, key, trainedAt: meta.trainedAt };
  await objects.put(LATEST_KEY, JSON.stringify(latest), { contentType: 'application/json' });
  return latest;
}

export async function readLatestPointer(objects: ObjectStore): Promise<TRecsLatest | null> {
  const buf = await objects.getBuffer(LATEST_KEY);
  if (!buf) return null;
  return ZRecsLatest.parse(JSON.parse(buf.toString('utf8')));
}

export async function loadArtifact(objects: ObjectStore, key: string): Promise<TRecsArtifact | null> {
  const buf = await objects.getBuffer(key);
  if (!buf) return null;
  return ZRecsArtifact.parse(JSON.parse(gunzipSync(buf).toString('utf8')));
}

/** Keep the newest `keep` versions; older ones go (the pointer never names them). */
export async function pruneArtifacts(objects: ObjectStore, keep: number): Promise<number> {
  const versions = new Set<string>();
  for await (const o of objects.list(RECS_PREFIX)) {
    const rest = o.key.slice(RECS_PREFIX.length);
    const slash = rest.indexOf('/');
    if (slash > 0) versions.add(rest.slice(0, slash));
  }
  const old = [...versions].sort().reverse().slice(keep);
  let removed = 0;
  for (const v of old) removed += await objects.deletePrefix(`${RECS_PREFIX}${v}/`);
  return removed;
}
