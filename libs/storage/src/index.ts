/**
 * Object storage: S3 (any implementation, through the minio client) when S3_ENDPOINT is set, else files
 * under `${DATA_DIR}/objects`. Both keep the same promises (see types.ts); contract tests hold them to it.
 */
import path from 'node:path';
import type { Config } from '@platform/config';
import { FsObjectStore } from './fs-store';
import { S3ObjectStore } from './s3-store';
import type { ObjectStore } from './types';

export * from './types';
export { FsObjectStore, writeFileAtomically } from './fs-store';
export { S3ObjectStore, type S3Options } from './s3-store';
export { assertValidKey, guessContentType, resolveRange } from './keys';

export async function createObjectStore(
  config: Pick<Config, 'S3_ENDPOINT' | 'S3_ACCESS_KEY' | 'S3_SECRET_KEY' | 'S3_BUCKET' | 'S3_REGION' | 'dataDir'>,
): Promise<ObjectStore> {
  if (config.S3_ENDPOINT) {
    if (!config.S3_ACCESS_KEY || !config.S3_SECRET_KEY) throw new Error('S3_ACCESS_KEY and S3_SECRET_KEY are required with S3_ENDPOINT');
    return new S3ObjectStore({
      endpoint: config.S3_ENDPOINT,
      accessKey: config.S3_ACCESS_KEY,
      secretKey: config.S3_SECRET_KEY,
      bucket: config.S3_BUCKET,
      region: config.S3_REGION,
    }).init();
  }
  const store = new FsObjectStore(path.join(config.dataDir, 'objects'));
  await store.ping();
  return store;
}
