/** Object storage: the interface every adapter (S3, filesystem) implements identically. */
import type { Readable } from 'node:stream';

export interface ObjectInfo {
  key: string;
  size: number;
  /** Strong validator, quoted as in HTTP (e.g. "\"abc123\""). */
  etag: string;
  contentType: string;
  lastModified: Date;
  /** User metadata given at put time (head/get only; list leaves it out). */
  metadata?: Record<string, string>;
}

export interface ByteRange {
  /** Inclusive start offset. */
  start: number;
  /** Inclusive end offset; omitted means to the end. */
  end?: number;
}

export interface PutOptions {
  contentType?: string;
  /** Extra metadata kept with the object. */
  metadata?: Record<string, string>;
  /**
   * Batch durability for writers of many objects (a track's segments): the put may resolve before its bytes
   * are on stable storage; they are once `flush()` over its key resolves. The object is readable as soon as
   * the put resolves, as always, so reference it (a manifest) only after that flush. Stores whose writes are
   * durable when acknowledged (S3) ignore it.
   */
  deferDurability?: boolean;
}

export interface ObjectStore {
  readonly kind: 's3' | 'fs';
  /**
   * Streamed write that becomes visible atomically: until it resolves nothing is readable under key,
   * and if it fails (stream error, crash) nothing half-written is ever readable.
   */
  put(key: string, body: Readable | Buffer | string, opts?: PutOptions): Promise<ObjectInfo>;
  /** Upload a local file (the packager's outputs). */
  putFile(key: string, filePath: string, opts?: PutOptions): Promise<ObjectInfo>;
  /** null when absent. */
  head(key: string): Promise<ObjectInfo | null>;
  /** Streamed read, optionally of a byte range (inclusive). null when absent. Throws AppError range_not_satisfiable on a bad range. */
  get(key: string, range?: ByteRange): Promise<{ info: ObjectInfo; body: Readable } | null>;
  getBuffer(key: string): Promise<Buffer | null>;
  /** Download to a local file. */
  getFile(key: string, filePath: string): Promise<boolean>;
  /** Keys under prefix, lexicographic. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  delete(key: string): Promise<void>;
  /** Delete everything under prefix; returns how many objects went. */
  deletePrefix(prefix: string): Promise<number>;
  /**
   * Make every put made with `deferDurability` under `prefix` (default: all) durable: survives a crash or
   * power loss from here on. A no-op where every acknowledged write already is (S3).
   */
  flush(prefix?: string): Promise<void>;
  /** Throws when storage does not answer (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
