/**
 * Objects as files under a root folder: the embedded default of ObjectStore.
 *
 * Layout: `objects/<key>` holds the bytes (plain files, so ranges are a seek), `meta/<key>` a JSON sidecar
 * (etag, content type, metadata, and the inode + size of the data file it describes), `tmp/` the writes in
 * progress. A write goes to `tmp/` on the same filesystem, is fsynced, then renamed into place: rename is
 * atomic, so a reader sees the old object or the new one, never a part. A sidecar that does not match its
 * data file (a crash between the two renames, or two writers racing) is detected by inode and recomputed.
 *
 * Durability: a plain put fsyncs the data file before the rename and its folder after it, so an acknowledged
 * object survives a crash. With `deferDurability` both fsyncs wait for `flush(prefix)`, which does them for the
 * whole batch at once (16 in flight: the kernel merges them into a few journal commits); a packager storing ~700
 * segments pays one batched pass instead of ~700 serial commits, then writes the manifests that reference them.
 */
import { createHash, randomUUID } from 'node:crypto';
import { constants as fsc, createReadStream, createWriteStream, close as closeCb, fstat as fstatCb, open as openCb } from 'node:fs';
import fs from 'node:fs/promises';
import { promisify } from 'node:util';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError } from '@platform/errors';
import { assertValidKey, guessContentType, resolveRange } from './keys';
import type { ByteRange, ObjectInfo, ObjectStore, PutOptions } from './types';

// Numeric fds, not FileHandle: a FileHandle's close() waits forever for a stream made with autoClose off.
const openFd = promisify(openCb);
const closeFd = promisify(closeCb);
const fstatFd = promisify(fstatCb);

interface Sidecar {
  etag: string;
  contentType: string;
  metadata?: Record<string, string>;
  size: number;
  ino: number;
}

/** putFile reads files up to this size whole (segments, manifests, covers); larger ones are streamed. */
const SMALL_FILE_BYTES = 8 * 1024 * 1024;
/** fsyncs in flight during flush(); the kernel merges them into few journal commits. */
const FLUSH_PARALLELISM = 16;

/** Writes left in tmp/ by a crashed process are removed after this long (others may still be writing). */
const STALE_TMP_MS = 6 * 3600_000;

export class FsObjectStore implements ObjectStore {
  readonly kind = 'fs' as const;
  readonly root: string;
  private readonly dataRoot: string;
  private readonly metaRoot: string;
  private readonly tmpRoot: string;
  private ready?: Promise<void>;
  /** Keys put with deferDurability and not flushed yet, each with the token of its latest such put. */
  private readonly unsynced = new Map<string, number>();
  private syncToken = 0;

  constructor(root: string) {
    this.root = path.resolve(root);
    this.dataRoot = path.join(this.root, 'objects');
    this.metaRoot = path.join(this.root, 'meta');
    this.tmpRoot = path.join(this.root, 'tmp');
  }

  private init(): Promise<void> {
    this.ready ??= (async () => {
      await Promise.all([this.dataRoot, this.metaRoot, this.tmpRoot].map((d) => fs.mkdir(d, { recursive: true })));
      const now = Date.now();
      for (const name of await fs.readdir(this.tmpRoot).catch(() => [] as string[])) {
        const p = path.join(this.tmpRoot, name);
        const st = await fs.stat(p).catch(() => null);
        if (st && now - st.mtimeMs > STALE_TMP_MS) await fs.rm(p, { force: true });
      }
    })();
    return this.ready;
  }

  private dataPath(key: string): string {
    return path.join(this.dataRoot, key);
  }
  private metaPath(key: string): string {
    return path.join(this.metaRoot, key);
  }

  async put(key: string, body: Readable | Buffer | string, opts: PutOptions = {}): Promise<ObjectInfo> {
    assertValidKey(key);
    await this.init();
    if (typeof body === 'string') return this.putBuffer(key, Buffer.from(body), opts);
    if (Buffer.isBuffer(body)) return this.putBuffer(key, body, opts);
    return this.putStream(key, body, opts);
  }

  async putFile(key: string, filePath: string, opts: PutOptions = {}): Promise<ObjectInfo> {
    assertValidKey(key);
    await this.init();
    // Segments and manifests are small: one read, one hash, one write beats a stream pipeline (~3x less CPU a file).
    const { size } = await fs.stat(filePath);
    if (size <= SMALL_FILE_BYTES) return this.putBuffer(key, await fs.readFile(filePath), opts);
    return this.putStream(key, createReadStream(filePath), opts);
  }

  private async putBuffer(key: string, buf: Buffer, opts: PutOptions): Promise<ObjectInfo> {
    const tmpData = path.join(this.tmpRoot, `${randomUUID()}.data`);
    try {
      const fh = await fs.open(tmpData, 'wx', 0o644);
      let st;
      try {
        await fh.writeFile(buf);
        // fsync before the rename, so the renamed file holds the bytes after a crash, not zeros.
        if (!opts.deferDurability) await fh.sync();
        st = await fh.stat();
      } finally {
        await fh.close();
      }
      return await this.commit(key, tmpData, `"${createHash('md5').update(buf).digest('hex')}"`, st, opts);
    } catch (e) {
      await fs.rm(tmpData, { force: true });
      throw e;
    }
  }

  private async putStream(key: string, source: Readable, opts: PutOptions): Promise<ObjectInfo> {
    const tmpData = path.join(this.tmpRoot, `${randomUUID()}.data`);
    const hash = createHash('md5');
    try {
      await pipeline(
        source,
        new Transform({
          transform(chunk: Buffer, _enc, cb) {
            hash.update(chunk);
            cb(null, chunk);
          },
        }),
        // flush: fsync before close, so the renamed file holds the bytes after a crash, not zeros.
        createWriteStream(tmpData, { flags: 'wx', mode: 0o644, flush: !opts.deferDurability }),
      );
      return await this.commit(key, tmpData, `"${hash.digest('hex')}"`, await fs.stat(tmpData), opts);
    } catch (e) {
      await fs.rm(tmpData, { force: true });
      if (!source.destroyed) source.destroy();
      throw e;
    }
  }

  /** Sidecar, then both renames into place; then the folder entries made durable (or left for flush()). */
  private async commit(key: string, tmpData: string, etag: string, st: { size: number; ino: number; mtime: Date }, opts: PutOptions): Promise<ObjectInfo> {
    const sidecar: Sidecar = {
      etag,
      contentType: opts.contentType ?? guessContentType(key),
      // Lower-cased like HTTP headers, so both adapters return the same names.
      metadata: opts.metadata && Object.keys(opts.metadata).length ? Object.fromEntries(Object.entries(opts.metadata).map(([k, v]) => [k.toLowerCase(), v])) : undefined,
      size: st.size,
      ino: st.ino,
    };
    const tmpMeta = path.join(this.tmpRoot, `${randomUUID()}.meta`);
    let created: string | undefined;
    try {
      await fs.writeFile(tmpMeta, JSON.stringify(sidecar));
      // A sidecar lost in a crash is recomputed from the data file: only the data file's entry must be durable.
      await this.renameInto(tmpMeta, this.metaPath(key), key);
      created = await this.renameInto(tmpData, this.dataPath(key), key);
    } catch (e) {
      await fs.rm(tmpMeta, { force: true });
      throw e;
    }
    if (opts.deferDurability) {
      this.unsynced.set(key, ++this.syncToken);
    } else {
      // The renamed entry (and any folder made for it) must reach the disk too, or a crash can lose the object.
      await syncEach(this.folderChain(this.dataPath(key), created), 1);
    }
    return toInfo(key, sidecar, st.mtime);
  }

  /**
   * rename(2) into place, making the folders on the first ENOENT (no mkdir per put: a track writes ~700
   * objects into ~10 folders). Returns the first folder created, if any.
   */
  private async renameInto(tmp: string, dest: string, key: string): Promise<string | undefined> {
    let created: string | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        await fs.rename(tmp, dest);
        return created;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        // S3 allows both "a" and "a/b"; a filesystem does not. Say so instead of a raw errno.
        if (code === 'EISDIR' || code === 'ENOTEMPTY' || code === 'EEXIST') throw new AppError('conflict', `Object key "${key}" is already used as a prefix of other objects.`);
        if (code === 'ENOTDIR') throw new AppError('conflict', `Object key "${key}" needs a folder where an object already exists (one key is a prefix of another).`);
        if (code !== 'ENOENT' || attempt > 0) throw e;
        created = await this.mkdirFor(dest, key);
      }
    }
  }

  private async mkdirFor(dest: string, key: string): Promise<string | undefined> {
    try {
      return await fs.mkdir(path.dirname(dest), { recursive: true });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' || code === 'ENOTDIR') {
        throw new AppError('conflict', `Object key "${key}" needs a folder where an object already exists (one key is a prefix of another).`);
      }
      throw e;
    }
  }

  /** The folder of `file`, and up to the parent of `created` (the top folder a mkdir -p made) when given. */
  private folderChain(file: string, created?: string): string[] {
    const dirs = [path.dirname(file)];
    if (created) {
      const top = path.dirname(created);
      for (let d = dirs[0]; d !== top && d.startsWith(`${this.dataRoot}${path.sep}`); ) dirs.push((d = path.dirname(d)));
    }
    return dirs;
  }

  async flush(prefix = ''): Promise<void> {
    const batch = [...this.unsynced].filter(([k]) => k.startsWith(prefix));
    if (batch.length === 0) return;
    // Every data file, then every folder on the way up to objects/ (new entries and new folders).
    const dirs = new Set<string>();
    for (const [k] of batch) {
      for (let d = path.dirname(this.dataPath(k)); d.startsWith(this.dataRoot); d = path.dirname(d)) dirs.add(d);
    }
    await syncEach(batch.map(([k]) => this.dataPath(k)), FLUSH_PARALLELISM);
    await syncEach([...dirs], FLUSH_PARALLELISM);
    // A key written again meanwhile keeps its newer token, so its own flush is still owed.
    for (const [k, token] of batch) if (this.unsynced.get(k) === token) this.unsynced.delete(k);
  }

  /** Info for the data file open as `fd`, from the sidecar when it describes this very file. */
  private async infoFor(key: string, fd: number): Promise<ObjectInfo> {
    const st = await fstatFd(fd);
    let sidecar: Sidecar | null = null;
    try {
      sidecar = JSON.parse(await fs.readFile(this.metaPath(key), 'utf8')) as Sidecar;
    } catch {
      sidecar = null;
    }
    if (!sidecar || sidecar.ino !== st.ino || sidecar.size !== st.size) {
      // Missing or stale sidecar: compute once from the bytes and store it again.
      const hash = createHash('md5');
      for await (const chunk of createReadStream('', { fd, start: 0, autoClose: false })) hash.update(chunk as Buffer);
      sidecar = { etag: `"${hash.digest('hex')}"`, contentType: sidecar?.contentType ?? guessContentType(key), metadata: sidecar?.metadata, size: st.size, ino: st.ino };
      await this.init();
      const tmp = path.join(this.tmpRoot, `${randomUUID()}.meta`);
      await fs
        .writeFile(tmp, JSON.stringify(sidecar))
        .then(() => fs.rename(tmp, this.metaPath(key)))
        .catch(() => fs.rm(tmp, { force: true }));
    }
    return toInfo(key, sidecar, st.mtime);
  }

  private async open(key: string): Promise<number | null> {
    assertValidKey(key);
    let fd: number;
    try {
      fd = await openFd(this.dataPath(key), fsc.O_RDONLY);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return null;
      throw e;
    }
    if ((await fstatFd(fd)).isDirectory()) {
      await closeFd(fd);
      return null;
    }
    return fd;
  }

  async head(key: string): Promise<ObjectInfo | null> {
    const fd = await this.open(key);
    if (fd === null) return null;
    try {
      return await this.infoFor(key, fd);
    } finally {
      await closeFd(fd);
    }
  }

  async get(key: string, range?: ByteRange): Promise<{ info: ObjectInfo; body: Readable } | null> {
    const fd = await this.open(key);
    if (fd === null) return null;
    try {
      const info = await this.infoFor(key, fd);
      // The open fd pins this version of the file: a concurrent overwrite renames a new inode in.
      const { start, end } = range ? resolveRange(range, info.size, key) : { start: 0, end: undefined };
      const body = createReadStream('', { fd, start, end, autoClose: true });
      return { info, body };
    } catch (e) {
      await closeFd(fd);
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
    await this.init();
    const slash = prefix.lastIndexOf('/');
    const baseKey = slash >= 0 ? prefix.slice(0, slash) : '';
    const keys: string[] = [];
    const walk = async (dir: string, keyPrefix: string): Promise<void> => {
      let entries;
      try {
        entries = await fs.readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const ent of entries) {
        const k = keyPrefix ? `${keyPrefix}/${ent.name}` : ent.name;
        if (ent.isDirectory()) {
          // Only descend into folders that can hold matching keys.
          if (k.startsWith(prefix) || prefix.startsWith(`${k}/`)) await walk(path.join(dir, ent.name), k);
        } else if (ent.isFile() && k.startsWith(prefix)) {
          keys.push(k);
        }
      }
    };
    await walk(baseKey ? path.join(this.dataRoot, baseKey) : this.dataRoot, baseKey);
    // S3 orders keys by their UTF-8 bytes.
    keys.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const k of keys) {
      const info = await this.head(k);
      if (info) yield info;
    }
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    await fs.rm(this.dataPath(key), { force: true });
    await fs.rm(this.metaPath(key), { force: true });
    await this.pruneEmptyFolders(key);
  }

  /** Removes folders left empty by a delete, as S3 has no folders to leave behind. */
  private async pruneEmptyFolders(key: string): Promise<void> {
    for (const root of [this.dataRoot, this.metaRoot]) {
      let dir = path.dirname(path.join(root, key));
      while (dir.startsWith(`${root}${path.sep}`)) {
        try {
          await fs.rmdir(dir);
        } catch {
          break; // not empty (or already gone)
        }
        dir = path.dirname(dir);
      }
    }
  }

  async deletePrefix(prefix: string): Promise<number> {
    const keys: string[] = [];
    for await (const info of this.list(prefix)) keys.push(info.key);
    for (const k of keys) await this.delete(k);
    return keys.length;
  }

  async ping(): Promise<void> {
    await this.init();
    await fs.access(this.dataRoot, fsc.W_OK);
  }

  async close(): Promise<void> {
    // Nothing to release: each operation opens and closes its own files.
  }
}

/** fsync each path (files or folders), `n` at a time; a path gone meanwhile (deleted) needs nothing. */
async function syncEach(paths: string[], n: number): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, paths.length) }, async () => {
      while (i < paths.length) {
        const p = paths[i++];
        let fh;
        try {
          fh = await fs.open(p, 'r');
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
          throw e;
        }
        try {
          await fh.sync();
        } finally {
          await fh.close();
        }
      }
    }),
  );
}

function toInfo(key: string, s: Sidecar, mtime: Date): ObjectInfo {
  return { key, size: s.size, etag: s.etag, contentType: s.contentType, lastModified: mtime, ...(s.metadata ? { metadata: s.metadata } : {}) };
}

/** Stream into `filePath` through a temporary file beside it, so a failed download leaves no partial file. */
export async function writeFileAtomically(body: Readable, filePath: string): Promise<void> {
  await fs.mkdir(path.dirname(path.resolve(filePath)), { recursive: true });
  const tmp = `${filePath}.${randomUUID()}.part`;
  try {
    await pipeline(body, createWriteStream(tmp, { flags: 'wx', mode: 0o644 }));
    await fs.rename(tmp, filePath);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

/** getBuffer for any store: the whole object in memory (small objects only: manifests, JSON, covers). */
export async function readObjectToBuffer(store: Pick<ObjectStore, 'get'>, key: string): Promise<Buffer | null> {
  const r = await store.get(key);
  if (!r) return null;
  const chunks: Buffer[] = [];
  for await (const c of r.body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** getFile for any store: streamed to a local file that appears only when complete. */
export async function downloadObjectToFile(store: Pick<ObjectStore, 'get'>, key: string, filePath: string): Promise<boolean> {
  const r = await store.get(key);
  if (!r) return false;
  await writeFileAtomically(r.body, filePath);
  return true;
}
