/**
 * Zero-copy hits: the addon in ../native/zerocopy.c (see its header), built on first use with the
 * machine's C compiler against the running node's own headers, and loaded once per process.
 *
 * Why native: on a hit node:http copies the cached body from the JS heap into the socket buffer. perf on
 * the edge at 100 KB objects: that copy (`_copy_from_iter` under writev) was ~24 % of the edge's CPU,
 * and it is the difference between node and nginx (sendfile) per core. Node has no sendfile for sockets.
 *
 * Why built here rather than by an install script: npm 11 runs no install scripts unless approved, and
 * node-gyp would fetch headers from the internet. This is one C file and one `cc` call (~0.3 s, once per
 * source and node version, cached under native/build). No compiler, no headers, not Linux, a failed build
 * or EDGE_ZERO_COPY=off: the edge logs why and serves every hit from its Buffer, as before.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ZeroCopyAddon {
  /** A copy of `body` in a memfd: `buffer` maps it (the cache keeps it as the body), `fd` feeds sendfile. */
  share(body: Buffer): { buffer: Buffer; fd: number };
  /** Head (latin1) + body bytes the kernel took without blocking, or -errno when it took none. */
  sendHeadAndFile(socketFd: number, head: string, fileFd: number, offset: number, length: number): number;
  /** Shared objects alive (not yet released by their Buffer's finalizer); how many are locked files, and how many fell back to a memfd. */
  stats(): { regions: number; bytes: number; fileRegions: number; fileFallbacks: number };
  /**
   * Objects shared from now on go into unlinked files in `dir` (O_TMPFILE), mapped and locked in memory
   * (large folios on ext4: cheaper for sendfile than a memfd's 4 KiB pages), or into memfds (null).
   * Returns '' when `dir` works, else why not (memfds then).
   */
  setStore(dir: string | null): string;
  raiseFdLimit(): number;
}

export interface ZeroCopy {
  addon: ZeroCopyAddon;
  /** At most this many objects hold an fd at once (half of what the open-file limit leaves after sockets). */
  maxRegions: number;
}

const here = path.dirname(fileURLToPath(import.meta.url));
let loaded: { zc: ZeroCopy | null; reason: string } | null = null;

/** The addon, or null with the reason it is not used (logged once by the caller). */
export function loadZeroCopy(): { zc: ZeroCopy | null; reason: string } {
  if (loaded) return loaded;
  loaded = load();
  return loaded;
}

function load(): { zc: ZeroCopy | null; reason: string } {
  const built = buildAddon('zerocopy');
  if ('reason' in built) return { zc: null, reason: built.reason };
  const { file } = built;
  try {
    const addon = createRequire(import.meta.url)(file) as ZeroCopyAddon;
    const limit = addon.raiseFdLimit();
    // Sockets need fds too: keep 1024 of them for sockets and files, give half of the rest to objects.
    const maxRegions = Math.min(65_536, Math.max(0, Math.floor((limit - 1024) / 2)));
    if (maxRegions < 64) return { zc: null, reason: `open-file limit ${limit} leaves no room for one fd per cached object` };
    return { zc: { addon, maxRegions }, reason: 'ok' };
  } catch (e) {
    return { zc: null, reason: `addon load failed: ${(e as Error).message}` };
  }
}

/**
 * native/{name}.c compiled into native/build/{name}-{hash}.node (hash of the source, node version and
 * arch), once; the path, or why not. Shared by the addons of this package.
 */
export function buildAddon(name: string): { file: string } | { reason: string } {
  if (process.platform !== 'linux') return { reason: `the ${name} addon is Linux-only (platform ${process.platform})` };
  const include = [path.resolve(path.dirname(process.execPath), '../include/node'), '/usr/include/node', '/usr/local/include/node'].find((d) =>
    existsSync(path.join(d, 'node_api.h')),
  );
  if (!include) return { reason: 'node headers (node_api.h) not found next to the node binary' };
  const source = path.resolve(here, `../native/${name}.c`);
  let code: Buffer;
  try {
    code = readFileSync(source);
  } catch (e) {
    return { reason: `addon source missing: ${(e as Error).message}` };
  }
  const id = createHash('sha256').update(code).update(process.version).update(process.arch).digest('hex').slice(0, 16);
  const dir = path.resolve(here, '../native/build');
  const file = path.join(dir, `${name}-${id}.node`);
  if (existsSync(file)) return { file };
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    mkdirSync(dir, { recursive: true });
    execFileSync('cc', ['-O2', '-shared', '-fPIC', `-DNODE_GYP_MODULE_NAME=${name}`, `-I${include}`, source, '-o', tmp], {
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 60_000,
    });
    // Atomic: edges starting together each build their own temp file; the last rename wins, same bytes.
    renameSync(tmp, file);
    return { file };
  } catch (e) {
    rmSync(tmp, { force: true });
    const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim().split('\n')[0];
    return { reason: `addon build failed: ${stderr || (e as Error).message}` };
  }
}
