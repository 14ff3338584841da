/**
 * The CDN edge (:8081), the public media host players talk to.
 *
 * Request path, in this order (cheap refusals first, so an invalid request costs the origin nothing):
 *   URL length -> method -> `/g/{grant}/{key}` split -> key syntax (shared with the origin) ->
 *   grant (HMAC, memoized per grant) -> memory LRU -> [slow path] disk tier -> parent edge chosen by
 *   consistent hashing -> origin.
 *
 * Plain hits never reach this file: the native hit path (fast-path.ts, native/fastpath.c) answers them
 * in C from objects this cache registers with it, and hands every other connection here. Here, a fresh
 * hit is raw node:http with a header array built when the object entered the cache: no framework, no
 * per-request allocation beyond what node needs. Segment bodies live in shared memory and go to the
 * socket by sendfile (zero-copy.ts), others as a cached Buffer.
 * The cache key is the object key alone: grants, CMCD and any other query never enter it.
 *
 * Freshness follows the origin's Cache-Control: immutable segments stay fresh; manifests are served
 * stale while one background revalidation runs (stale-while-revalidate), and when the origin fails
 * or times out a stale copy is served (stale-if-error) with `X-Cache: STALE`. Concurrent misses for
 * one key share one upstream fetch (coalescing).
 */
import http, { type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import net, { type AddressInfo, type Socket } from 'node:net';
import { Counter, Gauge, Histogram } from 'prom-client';
import type { PlatformDeps } from '@platform/runtime';
import { AppError, toProblem, type ErrorCode } from '@platform/errors';
import { redactGrantInUrl } from '@platform/http';
import {
  EDGE_AUTH_HEADER,
  GrantVerifier,
  MEDIA_TYPES,
  createEdgeCredentialCheck,
  etagMatches,
  isManifestExt,
  loadEdgeOriginSecret,
  loadSigningKeys,
  parseMediaKey,
  parseRange,
  ifRangeAllows,
  type GrantFailure,
  type MediaKey,
  type SigningKey,
} from '@platform/grants';
import { ByteLru } from './byte-lru';
import { PlainHistogram } from './plain-histogram';
import { DiskCache, type DiskMeta } from './disk-cache';
import { HashRing } from './hash-ring';
import { readCmcd } from './cmcd';
import { nextSegmentKeys } from './next-segments';
import { Upstream, UpstreamError, type UpstreamResponse } from './upstream';
import { PurgeList, subscribePurges, type PurgeSubscription } from './purge';
import { loadZeroCopy, type ZeroCopy } from './zero-copy';
import { FAST_EVENT_ACCESS, FAST_EVENT_FETCH, FAST_EVENT_NOR_HINT, FAST_EVENT_PREFETCH, FAST_EVENT_REVALIDATE, loadFastPath, parseRawHead, type FastPathAddon, type FastPathStats, type Handle } from './fast-path';
import type { TCachePurge } from '@platform/models';
import type { Logger } from '@platform/logging';

export interface EdgeOptions {
  /** Verify grants with these keys (default: loadSigningKeys(config)). */
  signingKeys: SigningKey[];
  /** Credential presented to the origin and parents (default: loadEdgeOriginSecret(config)). */
  edgeOriginSecret: string;
  /** Default ORIGIN_URL, else http://127.0.0.1:ORIGIN_PORT. */
  originUrl: string;
  /** Default EDGE_PARENTS. */
  parents: readonly string[];
  /** This edge's own URL, if it appears in `parents` (keys hashed to it go straight to the origin). */
  selfUrl?: string;
  /** Default EDGE_CACHE_BYTES. */
  cacheBytes: number;
  /** Default EDGE_DISK_CACHE_DIR; unset = no disk tier. */
  diskCacheDir?: string;
  diskCacheBytes: number;
  /** An upstream fetch that has not completed by then fails (and stale is served if we have it). */
  originTimeoutMs: number;
  /** How many following segments to prefetch when a numbered segment is requested. */
  prefetchSegments: number;
  /** Log 1 in N cache hits (misses, stale answers and errors are always logged). */
  accessLogSampleEvery: number;
  /** How long a 404 from upstream is remembered, so a burst of bad URLs costs the origin one fetch. */
  negativeTtlMs: number;
  /** Largest object the edge will fetch and hold. */
  maxObjectBytes: number;
  /**
   * Session-bound grants: 'when-present' checks the `sid` cookie against the grant when the browser
   * sends one (edge on the same site as the web app), 'required' refuses bound grants without it,
   * 'off' ignores binding.
   */
  sessionBinding: 'off' | 'when-present' | 'required';
  /** Cap on how long a manifest counts as fresh here, below the origin's max-age (tests, live edits). */
  maxManifestFreshMs?: number;
  /** How long a purged track version is refused (410) after its purge; default PLAYBACK_GRANT_TTL. */
  purgeTtlMs: number;
  /** Default EDGE_ZERO_COPY: 'auto' sends cached bodies with sendfile from shared memory when the addon builds (zero-copy.ts). */
  zeroCopy: 'auto' | 'off';
  /** Default EDGE_ZERO_COPY_DIR: where the shared bodies live (unlinked locked files there, '' the OS temp dir, 'memfd'). */
  zeroCopyDir: string;
  /** Default EDGE_FAST_PATH: 'auto' answers plain fresh hits in native code when the addon builds (fast-path.ts). */
  fastPath: 'auto' | 'off';
  /**
   * Connection timeouts, the same on the native path and in node:http (defaults EDGE_KEEPALIVE_TIMEOUT,
   * EDGE_HEADERS_TIMEOUT, EDGE_REQUEST_TIMEOUT): an idle keep-alive connection is closed after
   * keepAliveTimeoutMs (65 s, above players' and proxies' usual 60 s), a request whose head has not fully
   * arrived headersTimeoutMs after its first byte (10 s: slowloris), a response the client stopped
   * reading requestTimeoutMs after its last progress (30 s).
   */
  keepAliveTimeoutMs: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
}

/** With `bus`, the edge consumes `cache.purge` (deleted and republished tracks) from listen() to close(). */
export type EdgeDeps = Pick<PlatformDeps, 'config' | 'logger' | 'metrics'> &
  Partial<Pick<PlatformDeps, 'bus'>> &
  Partial<EdgeOptions> & {
    /** Where access lines go (default `logger`): createBufferedLogger's `access`, which skips redaction (fixed fields, no secrets). */
    accessLogger?: Logger;
  };

export type CacheResult = 'HIT' | 'MISS' | 'STALE';

interface Entry {
  key: string;
  /** 200, or 404 for a remembered miss. */
  status: number;
  body: Buffer;
  /** The memfd behind `body` when it is shared for sendfile (zero-copy.ts), else -1. Valid while `body` lives. */
  fd: number;
  size: number;
  etag: string;
  contentType: string;
  lastModified: string;
  cacheControl: string;
  storedAt: number;
  /** Seconds of age the object already had when it was stored (the upstream's Age: a parent edge's residence). */
  initialAge: number;
  /** Until then served as HIT; Infinity for immutable objects. */
  freshUntil: number;
  /** Until then served STALE immediately while one background revalidation runs. */
  swrUntil: number;
  /** Until then served STALE when upstream fails. */
  errorUntil: number;
  /** Header arrays for a 200 and a 304 HIT, built when the entry is made (no per-request building). */
  hitHeaders: string[];
  notModifiedHeaders: string[];
  /**
   * The head of a 200 HIT up to the per-connection lines (status line and `hitHeaders` as node would
   * write them), built once: see storeHitHead(). '' when a value would not pass node's header checks (then
   * writeHead is used and reports it).
   */
  hitHeadStart: string;
  /** Prefetch of the following segments was already started from this entry. */
  hasPrefetched: boolean;
  isSegment: boolean;
  /** Read back from the disk tier (reported as a HIT: the origin was not asked). */
  isFromDisk: boolean;
  /** An expired disk copy handed out because upstream failed (reported as STALE). */
  isStaleFallback?: boolean;
  /** Its slot in the native hit path's use marks (fast-path.ts), -1 when not registered there. */
  fastSlot: number;
}

const MAX_URL_CHARS = 1024;
const LATENCY_BOUNDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const BINDING_CODE = { off: 0, 'when-present': 1, required: 2 } as const;

/** Smaller bodies (manifests) are copied: one fd per object buys little below a few pages. */
const ZERO_COPY_MIN_BYTES = 16 * 1024;
const ENTRY_OVERHEAD = 512;

/** An upstream Age header (delta-seconds, RFC 9111 5.1); anything else counts as 0. */
function parseAge(v: string | string[] | undefined): number {
  const t = Array.isArray(v) ? v[0] : v;
  if (t === undefined || !/^\d{1,10}$/.test(t)) return 0;
  return Math.min(Number(t), 2 ** 31 - 1);
}

const CORS_HEADERS = [
  'access-control-allow-origin', '*',
  'access-control-expose-headers', 'content-length, content-range, etag, x-cache, age, accept-ranges',
  'timing-allow-origin', '*',
];
const PREFLIGHT_HEADERS = [
  'access-control-allow-origin', '*',
  'access-control-allow-methods', 'GET, HEAD, OPTIONS',
  // hls.js/dash.js send Range and, with CMCD in headers mode, the four CMCD-* headers.
  'access-control-allow-headers', 'range, if-range, if-none-match, if-modified-since, cmcd-request, cmcd-object, cmcd-status, cmcd-session',
  'access-control-max-age', '86400',
  'content-length', '0',
];

function problemBody(code: ErrorCode, detail: string): { status: number; body: Buffer } {
  const e = new AppError(code, detail);
  return { status: e.status, body: Buffer.from(JSON.stringify(toProblem(e))) };
}

const GRANT_DETAIL: Record<GrantFailure | 'missing', string> = {
  missing: 'This media URL carries no grant; get signed URLs from GET /api/tracks/:id/playback.',
  malformed: 'The grant in this URL is not a valid grant; get fresh URLs from GET /api/tracks/:id/playback.',
  unknown_kid: 'The grant was signed with a key this edge does not know (rotated out); get fresh URLs from GET /api/tracks/:id/playback.',
  bad_signature: 'The grant does not cover this object (another track or version, or altered); get fresh URLs from GET /api/tracks/:id/playback.',
  expired: 'The grant has expired; get fresh URLs from GET /api/tracks/:id/playback.',
  session_mismatch: 'The grant was issued to another session; get fresh URLs from GET /api/tracks/:id/playback.',
};
const GRANT_PROBLEMS = Object.fromEntries(Object.entries(GRANT_DETAIL).map(([k, d]) => [k, problemBody('invalid_grant', d)])) as Record<GrantFailure | 'missing', { status: number; body: Buffer }>;
const PROBLEMS = {
  tooLong: problemBody('bad_request', `The URL is longer than ${MAX_URL_CHARS} characters; media URLs are much shorter.`),
  badPath: problemBody('bad_request', 'Not a media object path: expected /g/{grant}/tracks/{trackId}/v{n}/{file}.'),
  method: problemBody('method_not_allowed', 'The edge serves GET, HEAD and OPTIONS only.'),
  notFound: problemBody('not_found', 'No such path on the edge; media lives under /g/{grant}/tracks/...'),
  objectNotFound: problemBody('not_found', 'No such media object in this track version.'),
  forbidden: problemBody('forbidden', 'This path is for edges of the same CDN only.'),
  timeout: problemBody('timeout', 'The origin did not answer in time and this edge holds no copy; retry shortly.'),
  badGateway: problemBody('bad_gateway', 'The origin failed and this edge holds no copy; retry shortly.'),
  gone: problemBody('gone', 'This track was deleted or replaced by a new version; ask for a new playback URL (GET /api/tracks/{id}/playback).'),
};

interface CacheControl {
  maxAge: number;
  swr: number;
  sie: number;
  isImmutable: boolean;
  isNoStore: boolean;
}
function parseCacheControl(value: string | undefined): CacheControl {
  const cc: CacheControl = { maxAge: 0, swr: 0, sie: 0, isImmutable: false, isNoStore: false };
  if (!value) return cc;
  for (const part of value.toLowerCase().split(',')) {
    const [k, v] = part.trim().split('=');
    const n = Number(v);
    if (k === 'max-age' || k === 's-maxage') cc.maxAge = Math.max(cc.maxAge, Number.isFinite(n) ? n : 0);
    else if (k === 'stale-while-revalidate') cc.swr = Number.isFinite(n) ? n : 0;
    else if (k === 'stale-if-error') cc.sie = Number.isFinite(n) ? n : 0;
    else if (k === 'immutable') cc.isImmutable = true;
    else if (k === 'no-store' || k === 'private') cc.isNoStore = true;
  }
  return cc;
}

export interface EdgeServer {
  server: Server;
  listen(port?: number, host?: string): Promise<Server>;
  close(): Promise<void>;
  /** Live counters (the same numbers /metrics exposes). */
  stats(): EdgeStats;
  /** Apply a purge now (what a `cache.purge` message does); returns how many cached objects went. */
  purge(p: Pick<TCachePurge, 'trackId' | 'beforeVersion'>, atMs?: number): number;
}

export interface EdgeStats {
  hits: number;
  misses: number;
  stale: number;
  refused: number;
  originFetches: number;
  parentFetches: number;
  bytesServed: number;
  cacheBytes: number;
  cacheEntries: number;
  /** Purges applied, objects they evicted, requests answered 410 because of one. */
  purges: number;
  purgedObjects: number;
  gone: number;
  /** Responses whose body went out by sendfile from shared memory (zero-copy.ts). */
  zeroCopyResponses: number;
  /** Of those, the ones the kernel did not take whole (full socket buffer): node sent the rest. */
  zeroCopyPartial: number;
  /** 200 HITs sent with the entry's prebuilt head instead of writeHead (storeHitHead). */
  prebuiltHeads: number;
  /** Answers (HIT, STALE, 304) given by the native hit path (fast-path.ts), within `hits` and `stale`; connections it gave to node:http. */
  nativeHits: number;
  nativeHandoffs: number;
  /** Connections the native path holds now. */
  nativeConnections: number;
}

/** A request target's path and its query (without the '?'; '' when there is none). */
function splitTarget(url: string): { path: string; query: string } {
  const q = url.indexOf('?');
  return q < 0 ? { path: url, query: '' } : { path: url.slice(0, q), query: url.slice(q + 1) };
}

export function createEdgeServer(deps: EdgeDeps): EdgeServer {
  const { config, metrics } = deps;
  const bindings = { component: 'edge', edge: config.EDGE_ID };
  const logger = deps.logger.child(bindings);
  const accessLogger = deps.accessLogger ? deps.accessLogger.child(bindings) : logger;
  const opts: EdgeOptions = {
    signingKeys: deps.signingKeys ?? loadSigningKeys(config),
    edgeOriginSecret: deps.edgeOriginSecret ?? loadEdgeOriginSecret(config),
    originUrl: deps.originUrl ?? config.ORIGIN_URL ?? `http://127.0.0.1:${config.ORIGIN_PORT}`,
    parents: deps.parents ?? config.EDGE_PARENTS ?? [],
    selfUrl: deps.selfUrl ?? config.EDGE_PUBLIC_URL,
    cacheBytes: deps.cacheBytes ?? config.EDGE_CACHE_BYTES,
    diskCacheDir: deps.diskCacheDir ?? config.EDGE_DISK_CACHE_DIR,
    diskCacheBytes: deps.diskCacheBytes ?? 8 * 1024 ** 3,
    originTimeoutMs: deps.originTimeoutMs ?? 3000,
    prefetchSegments: deps.prefetchSegments ?? 2,
    accessLogSampleEvery: Math.max(1, deps.accessLogSampleEvery ?? 100),
    negativeTtlMs: deps.negativeTtlMs ?? 5000,
    maxObjectBytes: deps.maxObjectBytes ?? 64 * 1024 * 1024,
    sessionBinding: deps.sessionBinding ?? 'when-present',
    maxManifestFreshMs: deps.maxManifestFreshMs,
    purgeTtlMs: deps.purgeTtlMs ?? config.PLAYBACK_GRANT_TTL,
    zeroCopy: deps.zeroCopy ?? config.EDGE_ZERO_COPY,
    zeroCopyDir: deps.zeroCopyDir ?? config.EDGE_ZERO_COPY_DIR,
    fastPath: deps.fastPath ?? config.EDGE_FAST_PATH,
    keepAliveTimeoutMs: deps.keepAliveTimeoutMs ?? config.EDGE_KEEPALIVE_TIMEOUT,
    headersTimeoutMs: deps.headersTimeoutMs ?? config.EDGE_HEADERS_TIMEOUT,
    requestTimeoutMs: deps.requestTimeoutMs ?? config.EDGE_REQUEST_TIMEOUT,
  };
  const verifier = new GrantVerifier(opts.signingKeys);
  const isEdgeCredential = createEdgeCredentialCheck(opts.edgeOriginSecret);
  const originBase = new URL(opts.originUrl);
  const normalize = (u: string) => u.replace(/\/+$/, '');
  const selfUrl = opts.selfUrl ? normalize(opts.selfUrl) : null;
  const ring = new HashRing(opts.parents.map(normalize));
  const upstream = new Upstream(opts.originTimeoutMs, opts.maxObjectBytes);
  const upstreamAuth = { [EDGE_AUTH_HEADER]: opts.edgeOriginSecret };

  // Plain numbers on the hot path; prom-client reads them when /metrics is scraped.
  const s: EdgeStats = { hits: 0, misses: 0, stale: 0, refused: 0, originFetches: 0, parentFetches: 0, bytesServed: 0, cacheBytes: 0, cacheEntries: 0, purges: 0, purgedObjects: 0, gone: 0, zeroCopyResponses: 0, zeroCopyPartial: 0, prebuiltHeads: 0, nativeHits: 0, nativeHandoffs: 0, nativeConnections: 0 };
  let evictions = 0;
  let upstreamErrors = 0;
  let zc: ZeroCopy | null = null;
  if (opts.zeroCopy !== 'off') {
    const loaded = loadZeroCopy();
    zc = loaded.zc;
    if (zc) {
      const dir = opts.zeroCopyDir === 'memfd' ? null : opts.zeroCopyDir || os.tmpdir();
      const why = zc.addon.setStore(dir);
      if (dir !== null && why !== '') logger.warn({ dir, reason: why }, 'zero-copy store: memfds (locked files unavailable)');
      logger.info({ maxObjects: zc.maxRegions, store: dir !== null && why === '' ? dir : 'memfd' }, 'zero-copy hits: cached bodies go out by sendfile from shared memory');
    }
    else logger.warn({ reason: loaded.reason }, 'zero-copy hits off: cached bodies are copied into sockets');
  }
  let shareFailures = 0;
  /** The body moved into shared memory for sendfile when it is worth it and fds allow; else as it is. */
  function shareBody(body: Buffer): { body: Buffer; fd: number } {
    if (zc === null || body.length < ZERO_COPY_MIN_BYTES || zc.addon.stats().regions >= zc.maxRegions) return { body, fd: -1 };
    try {
      const shared = zc.addon.share(body);
      return { body: shared.buffer, fd: shared.fd };
    } catch (err) {
      if (shareFailures++ % 1000 === 0) logger.warn({ err, failures: shareFailures }, 'zero-copy: object kept in the heap');
      return { body, fd: -1 };
    }
  }
  // The native hit path: started by listen(), fed every cached object (mirror of `lru`), closed by close().
  let fastAddon: FastPathAddon | null = null;
  if (opts.fastPath !== 'off') {
    const loaded = loadFastPath();
    fastAddon = loaded.addon;
    if (!fastAddon) logger.warn({ reason: loaded.reason }, 'native hit path off: every request goes through node:http');
  }
  let fast: { h: Handle; used: Uint8Array; addon: FastPathAddon } | null = null;
  /** The native path after close(), while it finishes its connections. */
  let closingFast: { h: Handle; used: Uint8Array; addon: FastPathAddon } | null = null;
  /** Its last counters, kept when it closes (stats() after close() still adds them in). */
  let fastFinal: FastPathStats | null = null;
  const fastStats = (): FastPathStats | null => (fast ? fast.addon.stats(fast.h) : fastFinal);
  const lru = new ByteLru<Entry>(opts.cacheBytes, () => evictions++, {
    onRemove(key, e) {
      if (fast && e.fastSlot >= 0) fast.addon.delete(fast.h, key);
    },
    wasUsed(e) {
      if (fast === null || e.fastSlot < 0 || fast.used[e.fastSlot] === 0) return false;
      fast.used[e.fastSlot] = 0;
      return true;
    },
  });
  /** Largest body the native path keeps its own copy of (bigger ones it sends from their memfd only). */
  const FAST_COPY_MAX = 64 * 1024;
  /** lru.set, and the same object registered with the native hit path when it can serve it there (else removed from it). */
  function cacheSet(e: Entry, media: MediaKey): void {
    const kept = lru.set(e.key, e);
    if (fast === null) return;
    const now = Date.now();
    if (kept && e.status === 200 && e.hitHeadStart !== '' && e.body.length > 0 && (e.fd >= 0 || e.body.length <= FAST_COPY_MAX) && now < Math.max(e.freshUntil, e.swrUntil) && !e.isStaleFallback) {
      // An object that never goes stale (immutable segments) needs no STALE head.
      const staleHead = e.swrUntil > e.freshUntil && Number.isFinite(e.freshUntil) ? headStartFor(headersFor(e, 'STALE')) : '';
      e.fastSlot = fast.addon.put(fast.h, e.key, media.trackId, media.version, e.fd, e.body, e.hitHeadStart, staleHead,
        headStartFor(e.notModifiedHeaders, 304), e.etag, e.storedAt, e.initialAge, e.freshUntil, e.swrUntil, e.isSegment && !e.hasPrefetched && opts.prefetchSegments > 0);
    } else {
      e.fastSlot = -1;
      fast.addon.delete(fast.h, e.key);
    }
  }
  const disk = opts.diskCacheDir ? new DiskCache(opts.diskCacheDir, opts.diskCacheBytes, (err) => logger.warn({ err }, 'disk cache error')) : null;
  const inflight = new Map<string, Promise<Entry>>();
  /** Connections the native path gave back after their parked request's load failed, with that failure (serveSlow uses it once). */
  const parkedFailures = new WeakMap<Socket, { key: string; err: unknown }>();
  // Tombstones of purged track versions: checked on the slow path and before anything is stored, so
  // a purged object never comes back (the hit path needs no check: a purge evicts what it covers).
  const purged = new PurgeList(opts.purgeTtlMs);
  let purgeSubscription: PurgeSubscription | null = null;
  function applyPurge(p: Pick<TCachePurge, 'trackId' | 'beforeVersion'>, atMs = Date.now()): number {
    purged.add(p, atMs);
    const prefix = `tracks/${p.trackId}/v`;
    const before = p.beforeVersion ?? Infinity;
    const isCovered = (key: string) => key.startsWith(prefix) && Number(key.slice(prefix.length, key.indexOf('/', prefix.length))) < before;
    const n = lru.deletePrefix(prefix, isCovered);
    for (const key of [...parsedKeys.keys()]) if (key.startsWith(prefix)) parsedKeys.delete(key);
    for (const [path, r] of [...grantRoutes]) if (r.media.key.startsWith(prefix)) grantRoutes.delete(path);
    s.purges++;
    s.purgedObjects += n;
    logger.info({ trackId: p.trackId, beforeVersion: p.beforeVersion, evicted: n }, 'purge');
    // The disk copies go too (a takedown should not leave bytes on edge disks); the tombstone already
    // keeps them from being served, so this runs in the background.
    disk
      ?.deleteTrack(p.trackId, isCovered)
      .then((removed) => {
        if (removed > 0) logger.info({ trackId: p.trackId, removed }, 'purge: disk copies deleted');
      })
      .catch((err) => logger.warn({ err, trackId: p.trackId }, 'purge: disk copies not deleted; they stay unreachable until evicted'));
    return n;
  }
  // Parsed keys, so the hot path does one Map lookup instead of a split and six regexes. Only keys
  // that parsed are remembered; bounded by clearing (refilling costs one parse per key).
  const parsedKeys = new Map<string, MediaKey>();
  const parseKey = (key: string): MediaKey | null => {
    let m = parsedKeys.get(key);
    if (m !== undefined) return m;
    m = parseMediaKey(key) ?? undefined;
    if (m === undefined) return null;
    if (parsedKeys.size >= 100_000) parsedKeys.clear();
    parsedKeys.set(key, m);
    return m;
  };
  // `/g/{grant}/{key}` paths already split and parsed: a player repeats each path (its grant and the
  // key), so a hit costs one Map lookup on the path, and the grant and key strings handed on are the
  // same objects every time (their hashes are cached: the grant memo and the cache lookups don't
  // rehash). Only the syntax is remembered; the grant is verified on every request. Bounded by clearing.
  interface GrantRoute {
    grant: string;
    media: MediaKey;
  }
  const grantRoutes = new Map<string, GrantRoute>();
  const grantRoute = (path: string): GrantRoute | null => {
    let r = grantRoutes.get(path);
    if (r !== undefined) return r;
    const slash = path.indexOf('/', 3);
    if (slash < 0) return null;
    const media = parseKey(path.slice(slash + 1));
    if (media === null) return null;
    if (grantRoutes.size >= 50_000) grantRoutes.clear();
    r = { grant: path.slice(3, slash), media };
    grantRoutes.set(path, r);
    return r;
  };

  /** The edge's counters with the native hit path's added in (its hits are hits, its bytes are bytes served). */
  function merged(): EdgeStats {
    const f = fastStats();
    const out = { ...s, cacheBytes: lru.bytes, cacheEntries: lru.count };
    if (f === null) return out;
    return {
      ...out,
      hits: s.hits + f.hits,
      bytesServed: s.bytesServed + f.bytes,
      zeroCopyResponses: s.zeroCopyResponses + f.zeroCopy,
      zeroCopyPartial: s.zeroCopyPartial + f.partial,
      stale: s.stale + f.stale,
      nativeHits: f.hits + f.stale,
      nativeHandoffs: f.handoffs,
      nativeConnections: f.connections,
    };
  }

  const registers = [metrics];
  new Counter({
    name: 'edge_cache_requests_total',
    help: 'Media requests answered from this edge, by X-Cache result.',
    labelNames: ['result'] as const,
    registers,
    collect() {
      this.reset();
      const m = merged();
      this.labels('HIT').inc(m.hits);
      this.labels('MISS').inc(m.misses);
      this.labels('STALE').inc(m.stale);
    },
  });
  new Gauge({
    name: 'edge_cache_hit_ratio',
    help: 'Share of media requests served from cache (HIT + STALE) since start.',
    registers,
    collect() {
      const m = merged();
      const total = m.hits + m.misses + m.stale;
      this.set(total === 0 ? 0 : (m.hits + m.stale) / total);
    },
  });
  new Counter({ name: 'edge_refused_total', help: 'Requests refused before the cache (bad URL, bad or missing grant).', registers, collect() { this.reset(); this.inc(s.refused); } });
  new Counter({
    name: 'edge_upstream_fetches_total',
    help: 'Fetches this edge made upstream, by target.',
    labelNames: ['target'] as const,
    registers,
    collect() {
      this.reset();
      this.labels('origin').inc(s.originFetches);
      this.labels('parent').inc(s.parentFetches);
    },
  });
  new Counter({ name: 'edge_upstream_errors_total', help: 'Upstream fetches that failed (timeout, network, 5xx).', registers, collect() { this.reset(); this.inc(upstreamErrors); } });
  new Counter({ name: 'edge_bytes_served_total', help: 'Body bytes sent to clients.', registers, collect() { this.reset(); this.inc(merged().bytesServed); } });
  new Gauge({ name: 'edge_cache_bytes', help: 'Bytes held by the in-memory cache.', registers, collect() { this.set(lru.bytes); } });
  new Gauge({ name: 'edge_cache_entries', help: 'Objects held by the in-memory cache.', registers, collect() { this.set(lru.count); } });
  new Counter({ name: 'edge_purges_total', help: 'cache.purge messages applied (deleted or republished tracks).', registers, collect() { this.reset(); this.inc(s.purges); } });
  new Counter({ name: 'edge_purged_objects_total', help: 'Cached objects evicted by purges.', registers, collect() { this.reset(); this.inc(s.purgedObjects); } });
  new Counter({ name: 'edge_gone_total', help: 'Requests answered 410 because their track version was purged.', registers, collect() { this.reset(); this.inc(s.gone); } });
  new Counter({ name: 'edge_zero_copy_responses_total', help: 'Responses whose body was sent by sendfile from shared memory, not copied.', registers, collect() { this.reset(); this.inc(merged().zeroCopyResponses); } });
  new Counter({ name: 'edge_native_hits_total', help: 'Hits answered by the native hit path (included in edge_cache_requests_total).', registers, collect() { this.reset(); this.inc(fastStats()?.hits ?? 0); } });
  new Counter({
    name: 'edge_native_handoffs_total',
    help: 'Connections the native hit path gave to node:http, by the first request it did not answer itself (not_cached, grant, range, conditional, ...).',
    labelNames: ['reason'] as const,
    registers,
    collect() {
      this.reset();
      for (const [reason, n] of Object.entries(fastStats()?.handoffReasons ?? {})) if (n > 0) this.labels(reason).inc(n);
    },
  });
  new Counter({ name: 'edge_native_parked_total', help: 'Misses the native path held while JS loaded them (answered natively after, or handed to node:http with reason "miss").', registers, collect() { this.reset(); this.inc(fastStats()?.parks ?? 0); } });
  new Gauge({ name: 'edge_native_parked', help: 'Requests the native path holds now, waiting for their load.', registers, collect() { this.set(fastStats()?.parked ?? 0); } });
  new Gauge({ name: 'edge_native_connections', help: 'Client connections held by the native hit path.', registers, collect() { this.set(fastStats()?.connections ?? 0); } });
  new Gauge({ name: 'edge_zero_copy_objects', help: 'Cached objects held in shared memory for sendfile (alive until collected).', registers, collect() { this.set(zc ? zc.addon.stats().regions : 0); } });
  new Gauge({ name: 'edge_zero_copy_file_objects', help: 'Of those, objects in locked unlinked files (EDGE_ZERO_COPY_DIR), the rest in memfds.', registers, collect() { this.set(zc ? zc.addon.stats().fileRegions : 0); } });
  new Counter({ name: 'edge_cache_evictions_total', help: 'Objects evicted from memory to stay within EDGE_CACHE_BYTES.', registers, collect() { this.reset(); this.inc(evictions); } });
  // Observed on every request: a plain-number histogram, not prom-client's (see plain-histogram.ts).
  const latency = new PlainHistogram(
    'edge_request_duration_seconds',
    'Time from request to response end for media requests, by X-Cache result.',
    'result',
    LATENCY_BOUNDS,
    registers,
  );
  const latencyHit = latency.labels('HIT', () => {
    const f = fastStats();
    return f ? { counts: f.latencyCounts, sum: f.latencySum } : null;
  });
  const latencyMiss = latency.labels('MISS');
  const latencyStale = latency.labels('STALE', () => {
    const f = fastStats();
    return f ? { counts: f.staleLatencyCounts, sum: f.staleLatencySum } : null;
  });
  const upstreamLatency = new Histogram({
    name: 'edge_upstream_duration_seconds',
    help: 'Upstream fetch time (origin or parent).',
    labelNames: ['target'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
  });

  // ---- cache entries ------------------------------------------------------------------------

  function headersFor(e: Entry, result: CacheResult): string[] {
    return [
      'content-type', e.contentType,
      'content-length', String(e.body.length),
      'etag', e.etag,
      'last-modified', e.lastModified,
      'cache-control', e.cacheControl,
      'accept-ranges', 'bytes',
      'x-cache', result,
      ...CORS_HEADERS,
    ];
  }

  /** Current age in whole seconds: the age it arrived with plus its residence here (RFC 9111 4.2.3, simplified: no response delay). */
  function ageOf(e: Entry, now: number): number {
    return e.initialAge + Math.max(0, Math.floor((now - e.storedAt) / 1000));
  }

  function notModifiedHeadersFor(e: Entry, result: CacheResult): string[] {
    return ['etag', e.etag, 'cache-control', e.cacheControl, 'x-cache', result, ...CORS_HEADERS];
  }

  /** Status line and headers in node's own form (`name: value` CRLF), checked as writeHead checks them ('' when one fails). */
  function headStartFor(headers: string[], status: 200 | 304 = 200): string {
    let head = status === 200 ? 'HTTP/1.1 200 OK\r\n' : 'HTTP/1.1 304 Not Modified\r\n';
    for (let i = 0; i < headers.length; i += 2) {
      try {
        http.validateHeaderName(headers[i]);
        http.validateHeaderValue(headers[i], headers[i + 1]);
      } catch {
        return '';
      }
      head += `${headers[i]}: ${headers[i + 1]}\r\n`;
    }
    return head;
  }

  function withHitHeaders(e: Entry): Entry {
    e.hitHeaders = headersFor(e, 'HIT');
    e.notModifiedHeaders = notModifiedHeadersFor(e, 'HIT');
    e.hitHeadStart = headStartFor(e.hitHeaders);
    return e;
  }

  /** `shared`: the body already in shared memory (a revalidated copy keeps its memfd instead of a second one). */
  function makeEntry(media: MediaKey, res: UpstreamResponse, now: number, shared?: { body: Buffer; fd: number }): Entry {
    const cc = parseCacheControl(res.headers['cache-control'] as string | undefined);
    const isManifest = isManifestExt(media.ext);
    let freshUntil = cc.isImmutable ? Infinity : now + cc.maxAge * 1000;
    if (isManifest && opts.maxManifestFreshMs !== undefined) freshUntil = Math.min(freshUntil, now + opts.maxManifestFreshMs);
    const { body, fd } = shared ?? shareBody(res.body);
    const e: Entry = {
      key: media.key,
      status: 200,
      body,
      fd,
      size: res.body.length + ENTRY_OVERHEAD,
      etag: (res.headers.etag as string | undefined) ?? `"${res.body.length}-${now}"`,
      contentType: MEDIA_TYPES[media.ext],
      lastModified: (res.headers['last-modified'] as string | undefined) ?? new Date(now).toUTCString(),
      cacheControl: (res.headers['cache-control'] as string | undefined) ?? 'public, max-age=10',
      storedAt: now,
      initialAge: parseAge(res.headers.age),
      freshUntil,
      swrUntil: freshUntil + cc.swr * 1000,
      // Without an explicit stale-if-error we still prefer an old copy to an error for a day.
      errorUntil: freshUntil + (cc.sie || 86400) * 1000,
      hitHeaders: [],
      notModifiedHeaders: [],
      hitHeadStart: '',
      hasPrefetched: false,
      isSegment: !isManifest,
      isFromDisk: false,
      fastSlot: -1,
    };
    return withHitHeaders(e);
  }

  function negativeEntry(key: string, now: number): Entry {
    return {
      key, status: 404, body: PROBLEMS.objectNotFound.body, fd: -1, size: ENTRY_OVERHEAD, etag: '', contentType: 'application/problem+json',
      lastModified: '', cacheControl: 'no-store', storedAt: now, initialAge: 0, freshUntil: now + opts.negativeTtlMs, swrUntil: 0, errorUntil: 0,
      hitHeaders: [], notModifiedHeaders: [], hitHeadStart: '', hasPrefetched: true, isSegment: false, isFromDisk: false, fastSlot: -1,
    };
  }

  function entryFromDisk(meta: DiskMeta, read: Buffer): Entry {
    const { body, fd } = shareBody(read);
    const e: Entry = {
      key: meta.key, status: 200, body, fd, size: body.length + ENTRY_OVERHEAD, etag: meta.etag, contentType: meta.contentType,
      lastModified: meta.lastModified, cacheControl: meta.cacheControl, storedAt: meta.storedAt,
      initialAge: typeof meta.initialAge === 'number' && Number.isSafeInteger(meta.initialAge) && meta.initialAge >= 0 ? meta.initialAge : 0,
      freshUntil: meta.freshUntil ?? Infinity, swrUntil: meta.swrUntil ?? Infinity, errorUntil: meta.errorUntil ?? Infinity,
      hitHeaders: [], notModifiedHeaders: [], hitHeadStart: '', hasPrefetched: false, isSegment: !/\.(m3u8|mpd|json)$/.test(meta.key), isFromDisk: true, fastSlot: -1,
    };
    return withHitHeaders(e);
  }

  function store(e: Entry, media: MediaKey): void {
    // A fetch that was in flight when its purge arrived must not put the object back.
    if (purged.isPurged(media.trackId, media.version)) return;
    cacheSet(e, media);
    if (disk && e.status === 200) {
      const nullIfInf = (n: number) => (Number.isFinite(n) ? n : null);
      disk
        .write({ key: e.key, status: 200, etag: e.etag, contentType: e.contentType, lastModified: e.lastModified, cacheControl: e.cacheControl,
          storedAt: e.storedAt, initialAge: e.initialAge, freshUntil: nullIfInf(e.freshUntil), swrUntil: nullIfInf(e.swrUntil), errorUntil: nullIfInf(e.errorUntil) }, e.body)
        .catch((err) => logger.warn({ err, key: e.key }, 'disk cache write failed'));
    }
  }

  // ---- upstream -----------------------------------------------------------------------------

  async function fetchUpstream(media: MediaKey, previous: Entry | undefined, isFromChild: boolean): Promise<Entry> {
    const headers: Record<string, string> = { ...upstreamAuth };
    if (previous && previous.status === 200) headers['if-none-match'] = previous.etag;
    let res: UpstreamResponse | null = null;
    // Tiered cache: a miss goes to the parent that owns this key; requests that came from a child
    // go straight to the origin so a misconfigured ring can never loop.
    const parent = isFromChild ? null : ring.nodeFor(media.key);
    if (parent && parent !== selfUrl) {
      const t0 = performance.now();
      try {
        s.parentFetches++;
        res = await upstream.get(new URL(parent), `/_edge/${media.key}`, headers);
        upstreamLatency.labels('parent').observe((performance.now() - t0) / 1000);
        if (res.status >= 500 || res.status === 403) {
          logger.warn({ parent, status: res.status, key: media.key }, 'parent edge failed; going to origin');
          res = null;
        }
      } catch (err) {
        logger.warn({ parent, err: (err as Error).message, key: media.key }, 'parent edge unreachable; going to origin');
        res = null;
      }
    }
    if (!res) {
      const t0 = performance.now();
      s.originFetches++;
      try {
        res = await upstream.get(originBase, `/${media.key}`, headers);
      } catch (err) {
        upstreamErrors++;
        throw err;
      }
      upstreamLatency.labels('origin').observe((performance.now() - t0) / 1000);
    }
    const now = Date.now();
    if (res.status === 200) {
      const e = makeEntry(media, res, now);
      store(e, media);
      return e;
    }
    if (res.status === 304 && previous) {
      // Same bytes; only the freshness moves forward.
      const e = makeEntry(
        media,
        { ...res, body: previous.body, headers: { ...res.headers, etag: previous.etag, 'cache-control': res.headers['cache-control'] ?? previous.cacheControl } },
        now,
        { body: previous.body, fd: previous.fd },
      );
      store(e, media);
      return e;
    }
    // 410: a parent edge already has this version's purge; remember it as missing like a 404.
    if (res.status === 404 || res.status === 410) {
      const e = negativeEntry(media.key, now);
      cacheSet(e, media);
      return e;
    }
    upstreamErrors++;
    if (res.status === 403) logger.error({ key: media.key }, 'origin refused this edge: EDGE_ORIGIN_SECRET differs between edge and origin');
    throw new UpstreamError(`upstream answered ${res.status}`, 'status', res.status);
  }

  /** One upstream fetch per key at a time, however many requests wait for it. */
  function load(media: MediaKey, previous: Entry | undefined, isFromChild: boolean): Promise<Entry> {
    let p = inflight.get(media.key);
    if (p) return p;
    p = (async () => {
      if (disk && !previous) {
        const d = await disk.read(media.key);
        if (d && d.meta.status === 200) {
          const e = entryFromDisk(d.meta, d.body);
          if (e.freshUntil > Date.now()) {
            if (!purged.isPurged(media.trackId, media.version)) cacheSet(e, media);
            return e;
          }
          previous = e;
        }
      }
      try {
        return await fetchUpstream(media, previous, isFromChild);
      } catch (err) {
        // An expired copy from disk (e.g. right after a restart) still beats an error (stale-if-error).
        if (previous?.isFromDisk && Date.now() < previous.errorUntil) {
          previous.isFromDisk = false;
          previous.isStaleFallback = true;
          if (!purged.isPurged(media.trackId, media.version)) cacheSet(previous, media);
          return previous;
        }
        throw err;
      }
    })().finally(() => inflight.delete(media.key));
    inflight.set(media.key, p);
    return p;
  }

  function prefetchAfter(e: Entry, media: MediaKey, isFromChild: boolean): void {
    e.hasPrefetched = true;
    for (const key of nextSegmentKeys(media.key, opts.prefetchSegments)) {
      if (lru.has(key) || inflight.has(key)) continue;
      const next = parseMediaKey(key);
      if (next) load(next, undefined, isFromChild).catch(() => undefined);
    }
  }

  /**
   * CMCD `nor` (next object request) names exactly what the player fetches next, whatever the naming
   * scheme: warm it. Only inside the same track version (the grant's scope), and only when the
   * request carries a `nor` at all (a substring test keeps this off the hot path otherwise).
   */
  function prefetchHinted(headers: IncomingMessage['headers'], path: string, query: string, media: MediaKey, isFromChild: boolean): void {
    const header = headers['cmcd-request'];
    if (!query.includes('nor') && !(typeof header === 'string' && header.includes('nor='))) return;
    const nor = readCmcd(query, headers)?.nor;
    if (typeof nor !== 'string' || nor.length === 0) return;
    let target: string;
    try {
      target = new URL(nor, `http://edge${path}`).pathname;
    } catch {
      return;
    }
    const at = target.indexOf('/tracks/');
    if (at < 0 || target.slice(0, at) !== path.slice(0, path.indexOf('/tracks/'))) return;
    const next = parseKey(target.slice(at + 1));
    if (!next || next.trackId !== media.trackId || next.version !== media.version) return;
    if (lru.has(next.key) || inflight.has(next.key)) return;
    load(next, undefined, isFromChild).catch(() => undefined);
  }

  // ---- responses ----------------------------------------------------------------------------

  let sampleCounter = 0;

  function accessLog(req: Pick<IncomingMessage, 'method' | 'headers'>, query: string, key: string, status: number, result: string, bytes: number, t0: number): void {
    accessLogger.info({ m: req.method, key, status, cache: result, bytes, ms: Math.round((performance.now() - t0) * 100) / 100, cmcd: readCmcd(query, req.headers) ?? undefined, ua: req.headers['user-agent'] }, 'access');
  }

  function sendProblem(res: ServerResponse, p: { status: number; body: Buffer }, extra?: string[]): void {
    const h = ['content-type', 'application/problem+json', 'content-length', String(p.body.length), 'cache-control', 'no-store', ...CORS_HEADERS];
    if (extra) h.push(...extra);
    res.writeHead(p.status, h);
    res.end(p.body);
  }

  function serveEntry(req: IncomingMessage, res: ServerResponse, e: Entry, result: CacheResult): number {
    if (e.status !== 200) {
      sendProblem(res, PROBLEMS.objectNotFound);
      return 404;
    }
    const headers = result === 'HIT' ? e.hitHeaders : headersFor(e, result);
    // Age (RFC 9111 5.1): how long this copy has been cached, here and upstream. A player's cache then
    // counts a manifest's max-age from when the origin made it, and a STALE copy shows that it is stale.
    const now = Date.now();
    const age = String(ageOf(e, now));
    const inm = req.headers['if-none-match'];
    if (inm !== undefined && etagMatches(inm, e.etag)) {
      res.writeHead(304, [...(result === 'HIT' ? e.notModifiedHeaders : notModifiedHeadersFor(e, result)), 'age', age]);
      res.end();
      return 304;
    }
    const rangeHeader = req.headers.range;
    if (rangeHeader !== undefined && ifRangeAllows(req.headers['if-range'], e.etag, e.lastModified)) {
      const r = parseRange(rangeHeader, e.body.length);
      if (r.kind === 'unsatisfiable') {
        sendProblem(res, problemBody('range_not_satisfiable', `The object is ${e.body.length} bytes; ask for a range inside it.`), ['content-range', `bytes */${e.body.length}`]);
        return 416;
      }
      if (r.kind === 'ok') {
        const part = e.body.subarray(r.start, r.end + 1);
        const h = headers.slice();
        h[3] = String(part.length);
        h.push('content-range', `bytes ${r.start}-${r.end}/${e.body.length}`, 'age', age);
        res.writeHead(206, h);
        if (req.method === 'HEAD') res.end();
        else {
          s.bytesServed += part.length;
          if (e.fd < 0 || !sendFromSharedMemory(res, e, r.start, part.length)) res.end(part);
        }
        return 206;
      }
    }
    if (req.method === 'HEAD') {
      res.writeHead(200, [...headers, 'age', age]);
      res.end();
      return 200;
    }
    if (result !== 'HIT' || !storeHitHead(res, e, age, now)) res.writeHead(200, [...headers, 'age', age]);
    s.bytesServed += e.body.length;
    if (e.fd < 0 || !sendFromSharedMemory(res, e, 0, e.body.length)) res.end(e.body);
    return 200;
  }

  let dateSecond = -1;
  let dateLine = '';
  let keepAliveMs = -1;
  let keepAliveLines = '';

  /**
   * A 200 HIT's head without writeHead: the entry's stored status line and headers, its current `age`,
   * then the lines node's `_storeHeader` adds for this connection (Date, Connection: keep-alive, Keep-Alive), stored in
   * `res._header` exactly where writeHead leaves it; node sends it before the body as usual (or the
   * addon does). writeHead re-validated and re-joined the same ~10 constant headers on every hit:
   * ~5 % of the edge's busy time in a profile at 100 KB. Only the plain keep-alive case is taken;
   * anything else (a closing connection, headers already set, a node whose fields differ) returns
   * false and the caller uses writeHead. test/zero-copy.test.ts compares both heads byte for byte.
   */
  function storeHitHead(res: ServerResponse, e: Entry, age: string, now: number): boolean {
    const out = res as ServerResponse & {
      _header?: unknown; _headerSent?: unknown; shouldKeepAlive?: unknown; _removedConnection?: unknown; maxRequestsOnConnectionReached?: unknown;
      _defaultKeepAlive?: unknown; _keepAliveTimeout?: unknown; _maxRequestsPerSocket?: unknown; sendDate?: unknown; chunkedEncoding?: unknown;
    };
    if (
      e.hitHeadStart === '' || out._header !== null || out._headerSent !== false || out.shouldKeepAlive !== true || out._removedConnection !== false ||
      out.maxRequestsOnConnectionReached !== false || out._defaultKeepAlive !== true || out.sendDate !== true || out.chunkedEncoding !== false ||
      typeof out._keepAliveTimeout !== 'number' || (out._maxRequestsPerSocket as number) > 0 ||
      // No header set on this response before (the edge sets none; a hook or a future change might).
      res.getHeaderNames().length !== 0
    ) return false;
    const second = Math.floor(now / 1000);
    if (second !== dateSecond) {
      dateSecond = second;
      dateLine = `Date: ${new Date(second * 1000).toUTCString()}\r\n`;
    }
    if (out._keepAliveTimeout !== keepAliveMs) {
      keepAliveMs = out._keepAliveTimeout;
      keepAliveLines = keepAliveMs > 0 ? `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(keepAliveMs / 1000)}\r\n` : 'Connection: keep-alive\r\n';
    }
    res.statusCode = 200;
    out._header = `${e.hitHeadStart}age: ${age}\r\n${dateLine}${keepAliveLines}\r\n`;
    s.prebuiltHeads++;
    return true;
  }

  /**
   * The response head (built by writeHead or storeHitHead) and the body, handed to the kernel by the addon:
   * head with MSG_MORE, body by sendfile from the entry's memfd. Only when nothing of this socket is
   * queued in node or libuv (so bytes stay in order) and the socket is plain TCP; what the kernel did
   * not take without blocking goes through node's normal write path after it. false: nothing was
   * written, the caller sends as usual (node reports any socket error there).
   *
   * It leans on two fields of node's OutgoingMessage, `_header` (the head text writeHead made) and
   * `_headerSent`: set, `res.end()` sends no head and just finishes the response (keep-alive, the next
   * pipelined request) as it does after any body. Checked to be what we expect before use, so a node
   * that changes them falls back to copying instead of misbehaving; test/zero-copy.test.ts pins it.
   */
  function sendFromSharedMemory(res: ServerResponse, e: Entry, offset: number, length: number): boolean {
    const out = res as ServerResponse & { _header?: unknown; _headerSent?: unknown; outputData?: unknown[] };
    const socket = res.socket as (NonNullable<ServerResponse['socket']> & { _httpMessage?: unknown; _handle?: { fd?: unknown } | null; encrypted?: boolean }) | null;
    if (zc === null || socket === null || socket._httpMessage !== res || socket.encrypted || socket.writableLength !== 0 || socket.writableCorked !== 0) return false;
    const head = out._header;
    if (typeof head !== 'string' || out._headerSent !== false || !Array.isArray(out.outputData) || out.outputData.length !== 0) return false;
    const fd = socket._handle?.fd;
    if (typeof fd !== 'number' || fd < 0) return false;
    const n = zc.addon.sendHeadAndFile(fd, head, e.fd, offset, length);
    if (n < 0) return false;
    s.zeroCopyResponses++;
    if (n < head.length + length) s.zeroCopyPartial++;
    if (n >= head.length) {
      out._headerSent = true;
      const sent = n - head.length;
      if (sent === length) res.end();
      else res.end(e.body.subarray(offset + sent, offset + length));
    } else {
      // Part of the head only (a full socket buffer before the body): node sends the rest of it first.
      out._header = head.slice(n);
      res.end(e.body.subarray(offset, offset + length));
    }
    return true;
  }

  /** The track version was deleted or replaced: 410, whatever the grant says, without asking upstream. */
  function serveGone(req: IncomingMessage, res: ServerResponse, media: MediaKey, query: string, t0: number): void {
    s.gone++;
    sendProblem(res, PROBLEMS.gone);
    accessLog(req, query, media.key, 410, 'MISS', 0, t0);
  }

  /** Miss, expired or remembered-404: the slow path, async. */
  async function serveSlow(req: IncomingMessage, res: ServerResponse, media: MediaKey, cached: Entry | undefined, query: string, t0: number, isFromChild: boolean): Promise<void> {
    if (purged.isPurged(media.trackId, media.version)) return serveGone(req, res, media, query, t0);
    const now = Date.now();
    if (cached && cached.status === 200 && now < cached.swrUntil) {
      // stale-while-revalidate: answer now, refresh once in the background.
      load(media, cached, isFromChild).catch((err) => logger.warn({ key: media.key, err: (err as Error).message }, 'background revalidation failed'));
      s.stale++;
      const status = serveEntry(req, res, cached, 'STALE');
      latencyStale.observe((performance.now() - t0) / 1000);
      accessLog(req, query, media.key, status, 'STALE', cached.body.length, t0);
      return;
    }
    let e: Entry;
    try {
      // A request the native path parked and gave back because its load failed: that failure, not a second fetch.
      const failed = parkedFailures.get(req.socket);
      if (failed !== undefined) {
        parkedFailures.delete(req.socket);
        if (failed.key === media.key) throw failed.err;
      }
      e = await load(media, cached && cached.status === 200 ? cached : undefined, isFromChild);
    } catch (err) {
      const isTimeout = err instanceof UpstreamError && err.kind === 'timeout';
      if (cached && cached.status === 200 && Date.now() < cached.errorUntil) {
        // stale-if-error: an old copy beats an error for a listener mid-track.
        s.stale++;
        const status = serveEntry(req, res, cached, 'STALE');
        latencyStale.observe((performance.now() - t0) / 1000);
        logger.warn({ key: media.key, err: (err as Error).message }, 'upstream failed; served stale');
        accessLog(req, query, media.key, status, 'STALE', cached.body.length, t0);
        return;
      }
      s.misses++;
      sendProblem(res, isTimeout ? PROBLEMS.timeout : PROBLEMS.badGateway, ['retry-after', '2']);
      logger.warn({ key: media.key, err: (err as Error).message }, 'upstream failed; no copy to serve');
      accessLog(req, query, media.key, isTimeout ? 504 : 502, 'MISS', 0, t0);
      return;
    }
    // Purged while this request waited for upstream.
    if (purged.isPurged(media.trackId, media.version)) return serveGone(req, res, media, query, t0);
    const result: CacheResult = e.isFromDisk ? 'HIT' : e.isStaleFallback ? 'STALE' : 'MISS';
    if (e.isFromDisk) {
      e.isFromDisk = false;
      s.hits++;
    } else if (e.isStaleFallback) s.stale++;
    else s.misses++;
    const status = serveEntry(req, res, e, result);
    (result === 'HIT' ? latencyHit : result === 'STALE' ? latencyStale : latencyMiss).observe((performance.now() - t0) / 1000);
    if (e.isSegment && !e.hasPrefetched && opts.prefetchSegments > 0) prefetchAfter(e, media, isFromChild);
    accessLog(req, query, media.key, status, result, e.status === 200 ? e.body.length : 0, t0);
  }

  function serveMedia(req: IncomingMessage, res: ServerResponse, media: MediaKey, path: string, query: string, t0: number, now: number, isFromChild: boolean): void {
    if (opts.prefetchSegments > 0) prefetchHinted(req.headers, path, query, media, isFromChild);
    const e = lru.get(media.key);
    if (e !== undefined && now < e.freshUntil) {
      s.hits++;
      const status = serveEntry(req, res, e, 'HIT');
      latencyHit.observe((performance.now() - t0) / 1000);
      if (e.isSegment && !e.hasPrefetched && opts.prefetchSegments > 0) prefetchAfter(e, media, isFromChild);
      if (++sampleCounter >= opts.accessLogSampleEvery || status >= 400) {
        sampleCounter = 0;
        accessLog(req, query, media.key, status, 'HIT', e.body.length, t0);
      }
      return;
    }
    serveSlow(req, res, media, e, query, t0, isFromChild).catch((err) => {
      logger.error({ err, key: media.key }, 'edge slow path failed');
      if (!res.headersSent) sendProblem(res, PROBLEMS.badGateway);
      else res.destroy();
    });
  }

  function refuse(res: ServerResponse, p: { status: number; body: Buffer }, req: IncomingMessage, reason: string): void {
    s.refused++;
    sendProblem(res, p);
    // Refusals are logged sampled too: a scanner should not be able to flood the log.
    if (++sampleCounter >= opts.accessLogSampleEvery) {
      sampleCounter = 0;
      logger.info({ m: req.method, url: redactGrantInUrl((req.url ?? '').slice(0, 400)).slice(0, 200), status: p.status, reason }, 'refused');
    }
  }

  // ---- the request handler --------------------------------------------------------------------

  /** Why this grant does not admit a request for `media` (session binding included), or null when it does. */
  function grantFailure(grant: string, media: MediaKey, cookie: string | undefined, now: number): GrantFailure | null {
    let verdict = verifier.verify(grant, media.trackId, media.version, now);
    if (verdict.ok && verdict.isSessionBound && opts.sessionBinding !== 'off') {
      const sid = readSidCookie(cookie);
      if (sid !== null) verdict = verifier.verify(grant, media.trackId, media.version, now, sid);
      else if (opts.sessionBinding === 'required') verdict = { ok: false, reason: 'session_mismatch' };
    }
    return verdict.ok ? null : verdict.reason;
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const t0 = performance.now();
    const url = req.url ?? '/';
    if (url.length > MAX_URL_CHARS) return refuse(res, PROBLEMS.tooLong, req, 'url_too_long');
    const method = req.method;
    if (method === 'OPTIONS') {
      res.writeHead(204, PREFLIGHT_HEADERS);
      res.end();
      return;
    }
    if (method !== 'GET' && method !== 'HEAD') return refuse(res, PROBLEMS.method, req, 'method');

    const { path, query } = splitTarget(url);

    if (path.startsWith('/g/')) {
      const route = grantRoute(path);
      if (route === null) return refuse(res, PROBLEMS.badPath, req, 'bad_path');
      const { grant, media } = route;
      const now = Date.now();
      const failure = grantFailure(grant, media, req.headers.cookie, now);
      if (failure !== null) return refuse(res, GRANT_PROBLEMS[failure], req, failure);
      return serveMedia(req, res, media, path, query, t0, now, false);
    }
    if (path.startsWith('/_edge/')) {
      // A child edge asking its parent: the edge credential replaces the grant (the child verified it).
      if (!isEdgeCredential(req.headers[EDGE_AUTH_HEADER])) return refuse(res, PROBLEMS.forbidden, req, 'not_an_edge');
      const media = parseKey(path.slice('/_edge/'.length));
      if (!media) return refuse(res, PROBLEMS.badPath, req, 'bad_path');
      return serveMedia(req, res, media, path, query, t0, Date.now(), true);
    }
    if (path === '/healthz') return json(res, 200, { status: 'ok' });
    if (path === '/readyz') return void readiness(res);
    if (path === '/metrics') return void sendMetrics(res);
    if (path.startsWith('/tracks/')) return refuse(res, GRANT_PROBLEMS.missing, req, 'missing');
    return refuse(res, PROBLEMS.notFound, req, 'no_route');
  }

  function json(res: ServerResponse, status: number, body: unknown): void {
    const b = Buffer.from(JSON.stringify(body));
    res.writeHead(status, ['content-type', 'application/json', 'content-length', String(b.length), 'cache-control', 'no-store']);
    res.end(b);
  }

  async function readiness(res: ServerResponse): Promise<void> {
    // The edge stays ready when the origin is down: serving cached and stale copies is exactly its
    // job then. The origin's state is reported for operators.
    let origin = 'ok';
    try {
      const r = await upstream.get(originBase, '/healthz', {});
      if (r.status !== 200) origin = `status ${r.status}`;
    } catch (e) {
      origin = (e as Error).message;
    }
    json(res, 200, { status: 'ok', checks: { cache: 'ok', origin, ...(purgeSubscription ? { purges: purgeSubscription.state() } : {}) } });
  }

  async function sendMetrics(res: ServerResponse): Promise<void> {
    try {
      const text = await metrics.metrics();
      res.writeHead(200, ['content-type', metrics.contentType, 'cache-control', 'no-store']);
      res.end(text);
    } catch (err) {
      logger.error({ err }, 'metrics failed');
      sendProblem(res, problemBody('internal_error', 'Metrics collection failed; it has been logged.'));
    }
  }

  // node checks its header and request timeouts every connectionsCheckingInterval (30 s by default, which
  // would let a slowloris hold a connection three times longer than headersTimeout); the native path
  // checks at the same interval.
  const timeoutCheckMs = Math.max(50, Math.min(1000, Math.floor(Math.min(opts.keepAliveTimeoutMs, opts.headersTimeoutMs, opts.requestTimeoutMs) / 4)));
  const server = http.createServer(
    {
      keepAliveTimeout: opts.keepAliveTimeoutMs,
      requestTimeout: opts.requestTimeoutMs,
      headersTimeout: Math.min(opts.headersTimeoutMs, opts.requestTimeoutMs),
      connectionsCheckingInterval: timeoutCheckMs,
    },
    handle,
  );
  // Players keep connections open across segments; don't let a slow client hold a socket forever.
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });

  // ---- the native hit path ------------------------------------------------------------------
  // Every accepted connection starts there (fast-path.ts); at its first request the native path does
  // not answer, it comes back here with the bytes read so far and node:http serves it from then on.

  const httpConnectionListener = server.listeners('connection')[0] as (socket: Socket) => void;

  function startFastPath(): void {
    if (fastAddon === null || fast !== null || typeof httpConnectionListener !== 'function') return;
    try {
      const started = fastAddon.start(
        {
          keys: opts.signingKeys.map((k) => ({ kid: k.kid, secret: Buffer.from(k.secret, 'utf8') })),
          binding: BINDING_CODE[opts.sessionBinding],
          keepAliveMs: server.keepAliveTimeout,
          headersTimeoutMs: server.headersTimeout,
          requestTimeoutMs: server.requestTimeout,
          checkEveryMs: timeoutCheckMs,
          sampleEvery: opts.accessLogSampleEvery,
          parkMisses: 1,
          bounds: LATENCY_BOUNDS,
        },
        adoptFromFastPath,
        onFastEvent,
      );
      fast = { h: started.handle, used: started.used, addon: fastAddon };
    } catch (err) {
      logger.warn({ err }, 'native hit path off: it did not start');
      return;
    }
    if (server.listeners('connection').includes(httpConnectionListener)) {
      server.removeListener('connection', httpConnectionListener);
      server.on('connection', onConnection);
    }
    logger.info('native hit path on: plain fresh hits are answered outside node:http');
  }

  function onConnection(socket: Socket): void {
    const fd = (socket as Socket & { _handle?: { fd?: unknown } | null })._handle?.fd;
    // The addon keeps its own dup of the fd: closing node's socket leaves the connection open (no FIN
    // while another descriptor holds it), and node has read nothing from it yet (reading starts on the
    // next turn of the loop).
    if (fast !== null && typeof fd === 'number' && fd >= 0 && fast.addon.take(fast.h, fd)) socket.destroy();
    else httpConnectionListener.call(server, socket);
  }

  /** A connection the native path will not serve: node:http takes it, starting with the bytes already read. */
  function adoptFromFastPath(fd: number, bytes: Buffer | null, failed?: { key: string; err: unknown }): void {
    let socket: Socket;
    try {
      socket = new net.Socket({ fd, readable: true, writable: true, allowHalfOpen: true });
    } catch (err) {
      logger.warn({ err }, 'native hit path: a connection could not be handed to node:http; closed');
      try {
        fs.closeSync(fd);
      } catch {
        /* already gone */
      }
      return;
    }
    // As net.Server does for the sockets it accepts, so server.close() waits for this one too.
    const srv = server as Server & { _connections: number };
    srv._connections++;
    Object.assign(socket, { server, _server: server });
    if (failed) parkedFailures.set(socket, failed);
    httpConnectionListener.call(server, socket);
    if (bytes !== null) socket.emit('data', bytes);
  }

  function onFastEvent(kind: number, key: string, rawHead: string | null, bytes: number, status: number, isStale: boolean): void {
    // A request parked before close() still needs its answer (the addon finishes its connections).
    const native = fast ?? closingFast;
    if (kind === FAST_EVENT_FETCH && native !== null && rawHead !== null) {
      serveParked(native, bytes, rawHead).catch((err) => {
        logger.error({ err, key }, 'edge: a parked request failed');
        parkedToNode(native, bytes);
      });
    } else if (kind === FAST_EVENT_PREFETCH) {
      const e = lru.peek(key);
      const media = e && e.isSegment && !e.hasPrefetched ? parseKey(key) : null;
      if (e && media) prefetchAfter(e, media, false);
    } else if (kind === FAST_EVENT_REVALIDATE) {
      // What serveSlow does for a STALE answer: one background revalidation (load() coalesces).
      const e = lru.peek(key);
      const media = parseKey(key);
      if (e && media && e.status === 200 && Date.now() >= e.freshUntil && !purged.isPurged(media.trackId, media.version)) {
        load(media, e, false).catch((err) => logger.warn({ key, err: (err as Error).message }, 'background revalidation failed'));
      }
    } else if (kind === FAST_EVENT_NOR_HINT && rawHead !== null && opts.prefetchSegments > 0) {
      const r = rawRequest(rawHead);
      const media = parseKey(key);
      if (media) prefetchHinted(r.headers, r.path, r.query, media, false);
    } else if (kind === FAST_EVENT_ACCESS && rawHead !== null) {
      const r = rawRequest(rawHead);
      accessLogger.info({ m: r.method, key, status, cache: isStale ? 'STALE' : 'HIT', bytes, native: true, cmcd: readCmcd(r.query, r.headers) ?? undefined, ua: r.headers['user-agent'] }, 'access');
    }
  }

  /**
   * A miss the native path parked (FAST_EVENT_FETCH): what handle() and serveSlow() do for it, while the
   * connection stays native. Answered from the object loaded (resume() with its MISS, or HIT, heads);
   * anything else (grant refused, purged, 404, upstream failure, an object the native path does not hold,
   * STALE) goes to node:http with the request, which answers it as any other. A failed load goes along with
   * the connection (parkedFailures), so node answers that failure (or stale-if-error) without a second fetch.
   */
  async function serveParked(native: NonNullable<typeof fast>, id: number, rawHead: string): Promise<void> {
    const t0 = performance.now();
    const r = rawRequest(rawHead);
    let failed: { key: string; err: unknown } | undefined;
    const toNode = () => parkedToNode(native, id, failed);
    const route = r.url.length > MAX_URL_CHARS ? null : grantRoute(r.path);
    if (route === null) return toNode();
    const { grant, media } = route;
    if (grantFailure(grant, media, r.headers.cookie, Date.now()) !== null || purged.isPurged(media.trackId, media.version)) return toNode();
    if (opts.prefetchSegments > 0) prefetchHinted(r.headers, r.path, r.query, media, false);
    const cached = lru.get(media.key);
    let e: Entry;
    if (cached !== undefined && Date.now() < cached.freshUntil) e = cached; // loaded meanwhile by another request
    else if (cached !== undefined && cached.status === 200 && Date.now() < cached.swrUntil) return toNode(); // STALE: node's
    else {
      try {
        e = await load(media, cached && cached.status === 200 ? cached : undefined, false);
      } catch (err) {
        failed = { key: media.key, err };
        return toNode();
      }
    }
    if (e.status !== 200 || e.fastSlot < 0 || e.isStaleFallback || purged.isPurged(media.trackId, media.version)) return toNode();
    const result: CacheResult = e === cached || e.isFromDisk ? 'HIT' : 'MISS';
    const head = headStartFor(headersFor(e, result));
    if (head === '') return toNode();
    e.isFromDisk = false;
    if (result === 'HIT') s.hits++;
    else s.misses++;
    // The client may have left meanwhile (false): the object is cached all the same.
    native.addon.resume(native.h, id, head, headStartFor(notModifiedHeadersFor(e, result), 304));
    (result === 'HIT' ? latencyHit : latencyMiss).observe((performance.now() - t0) / 1000);
    if (e.isSegment && !e.hasPrefetched && opts.prefetchSegments > 0) prefetchAfter(e, media, false);
    const status = r.headers['if-none-match'] === e.etag ? 304 : 200;
    accessLog(r, r.query, media.key, status, result, status === 200 ? e.body.length : 0, t0);
  }

  /** A parked request's connection, request and all, to node:http (with its failed load, when there was one). */
  function parkedToNode(native: NonNullable<typeof fast>, id: number, failed?: { key: string; err: unknown }): void {
    const handed = native.addon.resume(native.h, id, null, null);
    if (handed) adoptFromFastPath(handed.fd, handed.bytes, failed);
  }

  /** A request head the native path passed along, with its target split into path and query. */
  function rawRequest(rawHead: string) {
    const r = parseRawHead(rawHead);
    return { ...r, ...splitTarget(r.url) };
  }

  return {
    server,
    listen(port = config.EDGE_PORT, host = config.HOST) {
      startFastPath();
      return new Promise<Server>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          if (deps.bus && !purgeSubscription) purgeSubscription = subscribePurges(deps.bus, config.EDGE_ID, logger, (p, atMs) => applyPurge(p, atMs));
          const a = server.address() as AddressInfo;
          logger.debug({ port: a.port }, 'edge listening');
          resolve(server);
        });
      });
    },
    async close() {
      await purgeSubscription?.stop();
      purgeSubscription = null;
      const native = fast;
      if (native !== null) {
        // Idle native connections close now, busy ones after their response; the objects it holds stay valid until then.
        fastFinal = native.addon.stats(native.h);
        native.addon.close(native.h, false);
        closingFast = native;
        fast = null;
      }
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        // Give in-flight responses a moment, then drop whatever is left (players reconnect).
        setTimeout(() => {
          server.closeAllConnections();
          native?.addon.close(native.h, true);
        }, 2000).unref();
      });
      // Requests the native path parked finish their loads before upstream closes (the forced close bounds this).
      for (let i = 0; i < 250 && native !== null && (native.addon.stats(native.h)?.parked ?? 0) > 0; i++) await new Promise((r) => setTimeout(r, 10));
      upstream.close();
    },
    stats: merged,
    purge: applyPurge,
  };
}

function readSidCookie(cookie: string | undefined): string | null {
  if (!cookie) return null;
  for (const part of cookie.split(';')) {
    const t = part.trim();
    if (t.startsWith('sid=')) {
      try {
        return decodeURIComponent(t.slice(4));
      } catch {
        return t.slice(4);
      }
    }
  }
  return null;
}
