/**
 * Optional second cache tier on local disk (EDGE_DISK_CACHE_DIR): objects that fell out of memory
 * or survived a restart are read back from disk instead of the origin. One body file plus one small
 * JSON metadata file per object, named by the SHA-256 of the key, in a shard folder chosen by the track
 * id (so a purge reads one folder's metadata, not the whole cache); writes go through a temp file and
 * rename so a crash never leaves a torn object. Bounded by bytes: when over budget the least
 * recently used files (by mtime, touched on every read) go first.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

export interface DiskMeta {
  key: string;
  status: number;
  etag: string;
  contentType: string;
  lastModified: string;
  cacheControl: string;
  storedAt: number;
  /** Age the copy arrived with (seconds); absent in metadata written before Age was kept. */
  initialAge?: number;
  freshUntil: number | null;
  swrUntil: number | null;
  errorUntil: number | null;
}

export class DiskCache {
  private used = 0;
  private isSweeping = false;
  private ready: Promise<void>;

  constructor(
    private readonly dir: string,
    private readonly maxBytes: number,
    private readonly onError: (err: unknown) => void,
  ) {
    this.ready = this.scan().catch(onError);
  }

  private shardFor(keyOrTrack: string): string {
    return path.join(this.dir, createHash('sha256').update(keyOrTrack).digest('hex').slice(0, 2));
  }

  private fileFor(key: string): string {
    const h = createHash('sha256').update(key).digest('hex');
    // Media keys are tracks/{trackId}/...: every object of a track shares its shard.
    const trackId = key.startsWith('tracks/') ? key.slice(7, key.indexOf('/', 7)) : '';
    return path.join(trackId ? this.shardFor(`track:${trackId}`) : this.shardFor(key), h);
  }

  /**
   * Delete a track's objects (those whose key passes `when`, e.g. versions below n) from disk: a
   * deleted track's bytes should not stay on edge disks until they age out. Returns how many went.
   */
  async deleteTrack(trackId: string, when: (key: string) => boolean = () => true): Promise<number> {
    await this.ready;
    const shard = this.shardFor(`track:${trackId}`);
    const prefix = `tracks/${trackId}/`;
    let n = 0;
    for (const name of await fs.readdir(shard).catch(() => [] as string[])) {
      if (!name.endsWith('.json') || name.endsWith('.tmp.json')) continue;
      const metaFile = path.join(shard, name);
      const key = await fs
        .readFile(metaFile, 'utf8')
        .then((t) => (JSON.parse(t) as DiskMeta).key)
        .catch(() => null);
      if (key === null || !key.startsWith(prefix) || !when(key)) continue;
      const body = metaFile.slice(0, -'.json'.length);
      const size = (await fs.stat(body).catch(() => null))?.size ?? 0;
      await fs.rm(body, { force: true });
      await fs.rm(metaFile, { force: true });
      this.used -= size + 512;
      n++;
    }
    return n;
  }

  private async scan(): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true });
    let total = 0;
    for (const sub of await fs.readdir(this.dir)) {
      const subdir = path.join(this.dir, sub);
      const names = await fs.readdir(subdir).catch(() => [] as string[]);
      for (const n of names) total += (await fs.stat(path.join(subdir, n)).catch(() => null))?.size ?? 0;
    }
    this.used = total;
  }

  async read(key: string): Promise<{ meta: DiskMeta; body: Buffer } | null> {
    await this.ready;
    const file = this.fileFor(key);
    try {
      const meta = JSON.parse(await fs.readFile(`${file}.json`, 'utf8')) as DiskMeta;
      if (meta.key !== key) return null;
      const body = await fs.readFile(file);
      const now = new Date();
      fs.utimes(file, now, now).catch(() => undefined);
      return { meta, body };
    } catch {
      return null;
    }
  }

  async write(meta: DiskMeta, body: Buffer): Promise<void> {
    await this.ready;
    const file = this.fileFor(meta.key);
    await fs.mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
    await fs.writeFile(tmp, body);
    await fs.rename(tmp, file);
    await fs.writeFile(`${tmp}.json`, JSON.stringify(meta));
    await fs.rename(`${tmp}.json`, `${file}.json`);
    this.used += body.length + 512;
    if (this.used > this.maxBytes) void this.sweep();
  }

  private async sweep(): Promise<void> {
    if (this.isSweeping) return;
    this.isSweeping = true;
    try {
      const files: { file: string; size: number; mtime: number }[] = [];
      for (const sub of await fs.readdir(this.dir)) {
        const subdir = path.join(this.dir, sub);
        for (const n of await fs.readdir(subdir).catch(() => [] as string[])) {
          if (n.endsWith('.json') || n.endsWith('.tmp')) continue;
          const st = await fs.stat(path.join(subdir, n)).catch(() => null);
          if (st) files.push({ file: path.join(subdir, n), size: st.size, mtime: st.mtimeMs });
        }
      }
      files.sort((a, b) => a.mtime - b.mtime);
      let total = files.reduce((s, f) => s + f.size + 512, 0);
      const target = this.maxBytes * 0.8;
      for (const f of files) {
        if (total <= target) break;
        await fs.rm(f.file, { force: true });
        await fs.rm(`${f.file}.json`, { force: true });
        total -= f.size + 512;
      }
      this.used = total;
    } catch (e) {
      this.onError(e);
    } finally {
      this.isSweeping = false;
    }
  }
}
