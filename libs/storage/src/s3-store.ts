/**
 * Objects in any S3-compatible store through the `minio` client, speaking plain S3 only (signature v4,
 * multipart upload, ranged GET, HEAD): AWS S3, MinIO, Ceph RGW, Garage or SeaweedFS all serve.
 *
 * A PUT (single or multipart) becomes visible only when it completes, which gives the atomic-write
 * promise. A source stream of unknown length is buffered up to SPOOL_MEMORY_BYTES, beyond that spooled to
 * a temporary file: the upload then knows its size (sane part sizes instead of the client's 5 TiB guess),
 * and a source that fails midway never reaches S3 at all.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import * as Minio from 'minio';
import { assertValidKey, guessContentType, resolveRange } from './keys';
import { downloadObjectToFile, readObjectToBuffer } from './fs-store';
import type { ByteRange, ObjectInfo, ObjectStore, PutOptions } from './types';

export interface S3Options {
  /** e.g. http://127.0.0.1:9000 or https://s3.eu-west-1.amazonaws.com */
  endpoint: string;
  accessKey: string;
  secretKey: string;
  bucket: string;
  region?: string;
  /** Create the bucket when it is missing (default true). */
  createBucket?: boolean;
  /** Where large uploads of unknown length are spooled (default os.tmpdir()). */
  spoolDir?: string;
}

const SPOOL_MEMORY_BYTES = 8 * 1024 * 1024;
/** Metadata keys we set ourselves, hidden from ObjectInfo.metadata. */
const RESERVED_META = new Set(['content-type']);

function isNotFound(e: unknown): boolean {
  const code = (e as { code?: string }).code;
  return code === 'NotFound' || code === 'NoSuchKey' || code === 'NoSuchObject';
}

export class S3ObjectStore implements ObjectStore {
  readonly kind = 's3' as const;
  readonly bucket: string;
  private readonly client: Minio.Client;
  private readonly spoolDir: string;

  constructor(private readonly opts: S3Options) {
    const u = new URL(opts.endpoint);
    const useSSL = u.protocol === 'https:';
    this.client = new Minio.Client({
      endPoint: u.hostname,
      port: u.port ? Number(u.port) : useSSL ? 443 : 80,
      useSSL,
      accessKey: opts.accessKey,
      secretKey: opts.secretKey,
      region: opts.region ?? 'us-east-1',
      // Path-style addressing works on every S3 implementation; virtual-host style needs DNS per bucket.
      pathStyle: true,
    });
    this.bucket = opts.bucket;
    this.spoolDir = opts.spoolDir ?? os.tmpdir();
  }

  /** Verifies credentials and creates the bucket if asked to. */
  async init(): Promise<this> {
    const exists = await this.client.bucketExists(this.bucket);
    if (!exists) {
      if (this.opts.createBucket === false) throw new Error(`S3 bucket "${this.bucket}" does not exist at ${this.opts.endpoint}`);
      try {
        await this.client.makeBucket(this.bucket, this.opts.region ?? 'us-east-1');
      } catch (e) {
        // Another process created it in between.
        const code = (e as { code?: string }).code;
        if (code !== 'BucketAlreadyOwnedByYou' && code !== 'BucketAlreadyExists') throw e;
      }
    }
    return this;
  }

  async put(key: string, body: Readable | Buffer | string, opts: PutOptions = {}): Promise<ObjectInfo> {
    assertValidKey(key);
    const meta = this.metaHeaders(key, opts);
    if (typeof body === 'string' || Buffer.isBuffer(body)) return this.putBuffer(key, Buffer.from(body), meta, opts);

    // Read up to SPOOL_MEMORY_BYTES into memory; past that continue into a temp file.
    const chunks: Buffer[] = [];
    let size = 0;
    let spool: { path: string; stream: ReturnType<typeof createWriteStream> } | undefined;
    try {
      for await (const chunk of body) {
        const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
        size += buf.length;
        if (!spool && size <= SPOOL_MEMORY_BYTES) {
          chunks.push(buf);
          continue;
        }
        if (!spool) {
          const p = path.join(this.spoolDir, `s3-spool-${randomUUID()}`);
          spool = { path: p, stream: createWriteStream(p, { mode: 0o600 }) };
          for (const c of chunks.splice(0)) if (!spool.stream.write(c)) await onceDrain(spool.stream);
        }
        if (!spool.stream.write(buf)) await onceDrain(spool.stream);
      }
      if (!spool) return await this.putBuffer(key, Buffer.concat(chunks), meta, opts);
      spool.stream.end();
      await finished(spool.stream);
      const r = await this.client.putObject(this.bucket, key, createReadStream(spool.path), size, meta);
      return { key, size, etag: quoteEtag(r.etag), contentType: meta['Content-Type'], lastModified: new Date(), ...metaOf(opts) };
    } finally {
      if (spool) {
        spool.stream.destroy();
        await fs.rm(spool.path, { force: true });
      }
    }
  }

  private async putBuffer(key: string, buf: Buffer, meta: Record<string, string>, opts: PutOptions): Promise<ObjectInfo> {
    const r = await this.client.putObject(this.bucket, key, buf, buf.length, meta);
    // Single-part uploads have the MD5 as ETag; we know it without asking.
    const etag = r.etag ? quoteEtag(r.etag) : `"${createHash('md5').update(buf).digest('hex')}"`;
    return { key, size: buf.length, etag, contentType: meta['Content-Type'], lastModified: new Date(), ...metaOf(opts) };
  }

  private metaHeaders(key: string, opts: PutOptions): Record<string, string> {
    const meta: Record<string, string> = { 'Content-Type': opts.contentType ?? guessContentType(key) };
    for (const [k, v] of Object.entries(opts.metadata ?? {})) meta[`X-Amz-Meta-${k}`] = v;
    return meta;
  }

  async putFile(key: string, filePath: string, opts: PutOptions = {}): Promise<ObjectInfo> {
    assertValidKey(key);
    const meta = this.metaHeaders(key, opts);
    const { size } = await fs.stat(filePath);
    const r = await this.client.putObject(this.bucket, key, createReadStream(filePath), size, meta);
    return { key, size, etag: quoteEtag(r.etag), contentType: meta['Content-Type'], lastModified: new Date(), ...metaOf(opts) };
  }

  async flush(): Promise<void> {
    // An acknowledged PUT is already durable: deferDurability changes nothing here.
  }

  async head(key: string): Promise<ObjectInfo | null> {
    assertValidKey(key);
    try {
      const st = await this.client.statObject(this.bucket, key);
      const metadata: Record<string, string> = {};
      for (const [k, v] of Object.entries(st.metaData ?? {})) {
        if (!RESERVED_META.has(k.toLowerCase())) metadata[k.toLowerCase()] = String(v);
      }
      const contentType = String(st.metaData?.['content-type'] ?? guessContentType(key));
      return {
        key,
        size: st.size,
        etag: quoteEtag(st.etag),
        contentType,
        lastModified: st.lastModified,
        ...(Object.keys(metadata).length ? { metadata } : {}),
      };
    } catch (e) {
      if (isNotFound(e)) return null;
      throw e;
    }
  }

  async get(key: string, range?: ByteRange): Promise<{ info: ObjectInfo; body: Readable } | null> {
    const info = await this.head(key);
    if (!info) return null;
    try {
      if (range) {
        const { start, end } = resolveRange(range, info.size, key);
        const body = await this.client.getPartialObject(this.bucket, key, start, end - start + 1);
        return { info, body };
      }
      return { info, body: await this.client.getObject(this.bucket, key) };
    } catch (e) {
      if (isNotFound(e)) return null; // deleted between HEAD and GET
      throw e;
    }
  }

  getBuffer(key: string): Promise<Buffer | null> {
    return readObjectToBuffer(this, key);
  }

  getFile(key: string, filePath: string): Promise<boolean> {
    return downloadObjectToFile(this, key, filePath);
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    assertValidKey(prefix, 'prefix');
    const stream = this.client.listObjectsV2(this.bucket, prefix, true);
    for await (const item of stream as AsyncIterable<Minio.BucketItem>) {
      if (!item.name) continue; // common prefixes (not returned when recursive, but typed as possible)
      yield {
        key: item.name,
        size: item.size,
        etag: quoteEtag(item.etag ?? ''),
        // LIST does not return content types; the extension's guess is what a put without one stored.
        contentType: guessContentType(item.name),
        lastModified: item.lastModified ?? new Date(0),
      };
    }
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    await this.client.removeObject(this.bucket, key);
  }

  async deletePrefix(prefix: string): Promise<number> {
    let batch: string[] = [];
    let count = 0;
    const flush = async () => {
      if (!batch.length) return;
      await this.client.removeObjects(this.bucket, batch);
      count += batch.length;
      batch = [];
    };
    for await (const info of this.list(prefix)) {
      batch.push(info.key);
      if (batch.length === 1000) await flush(); // S3 DeleteObjects takes at most 1000 keys
    }
    await flush();
    return count;
  }

  async ping(): Promise<void> {
    if (!(await this.client.bucketExists(this.bucket))) throw new Error(`S3 bucket "${this.bucket}" is missing`);
  }

  async close(): Promise<void> {
    // The minio client holds only keep-alive sockets of the shared agent.
  }
}

function quoteEtag(etag: string): string {
  const bare = etag.replace(/^"+|"+$/g, '');
  return `"${bare}"`;
}

function metaOf(opts: PutOptions): { metadata?: Record<string, string> } {
  if (!opts.metadata || !Object.keys(opts.metadata).length) return {};
  return { metadata: Object.fromEntries(Object.entries(opts.metadata).map(([k, v]) => [k.toLowerCase(), v])) };
}

function onceDrain(stream: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      stream.off('error', onError);
      resolve();
    };
    const onError = (e: unknown) => {
      stream.off('drain', onDrain);
      reject(e);
    };
    stream.once('drain', onDrain);
    stream.once('error', onError);
  });
}
