/**
 * The native hit path: the addon in ../native/fastpath.c (see its header), built like the zero-copy addon
 * (zero-copy.ts: one `cc` call, once per source and node version) and loaded once per process.
 *
 * Why: a cached hit through node:http spends ~14-18 us of user CPU in V8 and node:http itself
 * (request/response objects, events, header handling), against ~2 us of edge logic; the kernel's ~25 us
 * of TCP work is the same either way. In C, on the same event loop, a hit is parsed, its grant verified
 * (HMAC memoized per grant, as the JS verifier does), and answered with the same bytes in ~2 us of user CPU.
 *
 * It is an accelerator, not a second edge: it answers only plain hits it can prove (see the C
 * header for the exact conditions), holds a miss while JS loads it (FAST_EVENT_FETCH, resume()),
 * and gives every other connection, unparsed, to node:http. EDGE_FAST_PATH=off, no compiler,
 * no headers or not Linux: every request goes through node:http, as before.
 */
import { createRequire } from 'node:module';
import { buildAddon } from './zero-copy';

export interface FastPathStats {
  /** Answers from a fresh copy (200, and 304 for a matching If-None-Match: `notModified`). */
  hits: number;
  /** Answers from an expired copy inside stale-while-revalidate (a revalidation was asked of JS). */
  stale: number;
  notModified: number;
  bytes: number;
  zeroCopy: number;
  partial: number;
  handoffs: number;
  taken: number;
  /** Misses parked for JS (a fetch event each), answered after resume() from what JS loaded, and parked now. */
  parks: number;
  resumed: number;
  parked: number;
  connections: number;
  objects: number;
  grants: number;
  grantVerifications: number;
  latencySum: number;
  /** Per-bucket (non-cumulative) counts for the bounds given at start; the last one is +Inf. */
  latencyCounts: number[];
  staleLatencySum: number;
  staleLatencyCounts: number[];
  /** Connections handed to node:http, by the first thing the native path did not answer (fastpath.c REASONS). */
  handoffReasons: Record<string, number>;
}

export interface FastPathOptions {
  keys: { kid: string; secret: Buffer }[];
  /** 0 off, 1 when-present, 2 required (EdgeOptions.sessionBinding). */
  binding: 0 | 1 | 2;
  keepAliveMs: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  /** How often the timeouts are checked (ms). */
  checkEveryMs: number;
  sampleEvery: number;
  /** 1: a miss waits in C for JS (FAST_EVENT_FETCH, then resume()) instead of handing its connection to node:http. */
  parkMisses: 0 | 1;
  /** Latency histogram bounds, seconds. */
  bounds: readonly number[];
}

export type Handle = { readonly __fastPath: unique symbol };

export interface FastPathAddon {
  start(
    opts: FastPathOptions,
    onHandoff: (fd: number, bytes: Buffer | null) => void,
    onEvent: (kind: number, key: string, rawHead: string | null, bytes: number, status: number, isStale: boolean) => void,
  ): { handle: Handle; used: Uint8Array };
  /** Serve this accepted socket natively (the addon keeps a dup of the fd; the caller closes its socket). */
  take(h: Handle, fd: number): boolean;
  /**
   * Register a cached object; its slot in `used`, or -1 when it was not kept (then only node serves it).
   * The heads are a 200 HIT's, a 200 STALE's and a 304 HIT's, up to the per-connection lines ('' = node answers those).
   */
  put(
    h: Handle, key: string, trackId: string, version: number, fd: number, body: Buffer, head: string, staleHead: string, notModifiedHead: string,
    etag: string, storedAtMs: number, initialAge: number, freshUntilMs: number, swrUntilMs: number, wantsPrefetch: boolean,
  ): number;
  delete(h: Handle, key: string): boolean;
  stats(h: Handle): FastPathStats;
  /**
   * A parked request (FAST_EVENT_FETCH, `bytes` = its id): answer it with these heads (200, and 304 or '')
   * from the object just registered (false: its client left), or, with nulls, take its connection for
   * node:http now ({ fd, bytes read so far }, null when it is gone).
   */
  resume(h: Handle, id: number, head: string, notModifiedHead: string): boolean;
  resume(h: Handle, id: number, head: null, notModifiedHead: null): { fd: number; bytes: Buffer | null } | null;
  /** Stop taking connections; close idle ones (all, when forced). How many remain. */
  close(h: Handle, force: boolean): number;
}

/** Event kinds from the addon. */
export const FAST_EVENT_PREFETCH = 1;
/** An answer to log: 1 in N hits, every STALE. */
export const FAST_EVENT_ACCESS = 2;
/** A stale copy was answered: revalidate it (at most once a second per object). */
export const FAST_EVENT_REVALIDATE = 3;
/** The request carried a CMCD `nor` hint (query or CMCD-Request): prefetch what it names. */
export const FAST_EVENT_NOR_HINT = 4;
/** A miss is parked (raw head; `bytes` = its id; `isStale`: an expired copy is registered): load it, then resume(). */
export const FAST_EVENT_FETCH = 5;

let loaded: { addon: FastPathAddon | null; reason: string } | null = null;

/** The addon, or null with the reason it is not used (logged once by the caller). */
export function loadFastPath(): { addon: FastPathAddon | null; reason: string } {
  if (loaded) return loaded;
  const built = buildAddon('fastpath');
  if ('reason' in built) loaded = { addon: null, reason: built.reason };
  else {
    try {
      loaded = { addon: createRequire(import.meta.url)(built.file) as FastPathAddon, reason: 'ok' };
    } catch (e) {
      loaded = { addon: null, reason: `addon load failed: ${(e as Error).message}` };
    }
  }
  return loaded;
}

/** A raw request head (as the addon read it) as a method, target and lower-case header map, for the access log. */
export function parseRawHead(raw: string): { method: string; url: string; headers: Record<string, string> } {
  const lines = raw.split('\r\n');
  const [method = '', url = ''] = (lines[0] ?? '').split(' ');
  const headers: Record<string, string> = {};
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).toLowerCase();
    if (!(name in headers)) headers[name] = line.slice(colon + 1).trim();
  }
  return { method, url, headers };
}
