/**
 * The packager worker: consumes `ingest.jobs` (group `packager`) and turns an original upload into a
 * published track. Per job: download -> probe -> one-decode transcode (+ loudness, peaks) ->
 * package -> upload under tracks/{id}/v{n}/ (media first, manifests last) -> markTrackReady.
 *
 * Idempotent by (trackId, version): a redelivered job whose version is already published is acked;
 * otherwise it clears and rewrites its own prefix. Nothing is visible before the manifests are
 * written and the catalog flips, so a worker killed mid-job leaves nothing a player can reach, and the
 * bus redelivers the uncommitted job. AppError (bad input) -> failed at once; anything else is
 * retried through the bus up to maxAttempts, then failed.
 */
import { constants as fsConstants } from 'node:fs';
import { access, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '@platform/logging';
import type { Config } from '@platform/config';
import type { ObjectStore } from '@platform/storage';
import type { Bus, Consumer, ReceivedMessage } from '@platform/bus';
import type { Cache } from '@platform/cache';
import type { Registry } from 'prom-client';
import type { Kysely } from 'kysely';
import { AppError, isAppError } from '@platform/errors';
import { CACHE_PURGE_TOPIC, cachePurgeMessage, INGEST_JOBS_TOPIC, ingestProgressKey, ZIngestJob, type TIngestJob, type TIngestProgress, type TIngestStage } from '@platform/models';
import { getTrack, invalidateTrack, markTrackFailed, markTrackReady } from '@platform/catalog';
import {
  checkFfmpeg, packageRenditions, probeAudio, readTags, renderCovers, renditionDurationMatches, transcodeAndPackage, transcodeLadder,
  type PackagedRendition, type PackageResult, type ToolPaths, type TranscodeResult,
} from '@platform/media';
import { createPackagerMetrics, type PackagerMetrics } from './metrics';

export const PACKAGER_GROUP = 'packager';
/** Progress records outlive the job long enough for the portal to show the outcome. */
const PROGRESS_TTL_MS = 7 * 86400_000;
const ATTEMPTS_TTL_MS = 7 * 86400_000;
/** Where each stage starts in the job's overall percent. */
const STAGE_SPAN: Record<string, [number, number]> = {
  downloading: [0, 5], probing: [5, 10], transcoding: [10, 70], packaging: [70, 80], uploading: [80, 97], publishing: [97, 100],
};

export interface PackagerDeps {
  config: Pick<Config, 'SEGMENT_DURATION_S' | 'PACKAGER_CONCURRENCY'>;
  logger: Logger;
  metrics: Registry;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  sql: Kysely<any>;
  objects: ObjectStore;
  bus: Bus;
  cache: Cache;
}

export interface PackagerOptions {
  /** Jobs processed at once (default config.PACKAGER_CONCURRENCY). */
  concurrency?: number;
  /** ffmpeg processes per job (default: the cores divided among the concurrent jobs, 1 to 4). */
  threadsPerJob?: number;
  /** Attempts for unexpected errors before the track is marked failed (default 3). */
  maxAttempts?: number;
  tmpDir?: string;
  topic?: string;
  groupId?: string;
  tools?: ToolPaths;
  /** Kafka session timeout: how soon a dead worker's partitions move to another (default the bus's). */
  sessionTimeoutMs?: number;
  /**
   * Package while transcoding (default true): ffmpeg writes into FIFOs that shaka reads (transcodeAndPackage),
   * so no intermediate files and no packaging tail. false packages from files after the ladder, which also
   * keeps the encoders' 'roll' sample groups (see packager/README.md for what each way costs and gives).
   */
  streamPackaging?: boolean;
  /** Observability hook (and tests): called at every stage change. */
  onStage?: (job: TIngestJob, stage: TIngestStage) => void;
}

export type JobOutcome = 'ready' | 'failed' | 'skipped';

export interface PackagerWorker {
  start(): Promise<void>;
  /**
   * Stop consuming. By default the jobs in flight are aborted (ffmpeg/shaka killed): their messages stay
   * uncommitted and are redelivered, so nothing is lost and shutdown is immediate. `abort: false` drains.
   */
  stop(opts?: { abort?: boolean }): Promise<void>;
  /** One job, outside the bus (CLI, tests). Throws on unexpected errors (the bus would retry). */
  processJob(job: TIngestJob, signal?: AbortSignal): Promise<JobOutcome>;
}

/** Object-store prefix of one version's outputs. */
export const trackPrefix = (trackId: string, version: number): string => `tracks/${trackId}/v${version}/`;

class Semaphore {
  private active = 0;
  private readonly queue: (() => void)[] = [];
  constructor(private readonly limit: number) {}
  async acquire(): Promise<() => void> {
    if (this.active >= this.limit) await new Promise<void>((r) => this.queue.push(r));
    this.active++;
    return () => {
      this.active--;
      this.queue.shift()?.();
    };
  }
}

/** Catalog rendition: FLAC has no nominal bitrate, so it carries the measured average. */
function catalogRendition(p: PackagedRendition) {
  return { codec: p.codec, bitrateKbps: p.bitrateKbps ?? Math.round(p.averageBandwidth / 1000), container: p.container };
}

export function createPackagerWorker(deps: PackagerDeps, opts: PackagerOptions = {}): PackagerWorker {
  const log = deps.logger.child({ component: 'packager' });
  const metrics: PackagerMetrics = createPackagerMetrics(deps.metrics);
  const topic = opts.topic ?? INGEST_JOBS_TOPIC;
  const maxAttempts = opts.maxAttempts ?? 3;
  const concurrency = opts.concurrency ?? deps.config.PACKAGER_CONCURRENCY;
  const slots = new Semaphore(concurrency);
  // ffmpeg uses one core per process: split each job's ladder over the cores its share allows.
  const threadsPerJob = opts.threadsPerJob ?? Math.max(1, Math.min(4, Math.floor(os.availableParallelism() / concurrency)));
  const inflight = new Set<AbortController>();
  const streamPackaging = opts.streamPackaging ?? true;
  let consumer: Consumer | null = null;

  async function setProgress(job: TIngestJob, stage: TIngestStage, stagePercent = 0, error?: { code: string; detail: string }): Promise<void> {
    const span = STAGE_SPAN[stage];
    const percent = stage === 'ready' ? 100 : span ? Math.round(span[0] + ((span[1] - span[0]) * stagePercent) / 100) : 0;
    const rec: TIngestProgress = { stage, percent, updatedAt: new Date().toISOString(), version: job.version, ...(error ? { error } : {}) };
    // Progress is best effort: a cache hiccup must not fail a job.
    await deps.cache.set(ingestProgressKey(job.trackId), JSON.stringify(rec), PROGRESS_TTL_MS).catch((err) => log.warn({ err }, 'progress write failed'));
  }

  async function fail(job: TIngestJob, code: string, detail: string): Promise<void> {
    await markTrackFailed(deps.sql, { trackId: job.trackId, version: job.version, code, detail });
    await invalidateTrack(deps.cache, job.trackId).catch(() => undefined);
    await setProgress(job, 'failed', 0, { code, detail });
    metrics.failures.inc({ code });
  }

  async function processJob(job: TIngestJob, signal?: AbortSignal): Promise<JobOutcome> {
    const jlog = log.child({ trackId: job.trackId, version: job.version });
    const prefix = trackPrefix(job.trackId, job.version);
    const started = Date.now();
    let stageStarted = started;
    let currentStage: TIngestStage = 'downloading';
    let lastWrite = 0;
    const stage = async (s: TIngestStage) => {
      metrics.stageSeconds.observe({ stage: currentStage }, (Date.now() - stageStarted) / 1000);
      currentStage = s;
      stageStarted = Date.now();
      opts.onStage?.(job, s);
      await setProgress(job, s);
    };
    const stageProgress = (percent: number) => {
      // At most two cache writes a second per job.
      if (Date.now() - lastWrite < 500) return;
      lastWrite = Date.now();
      void setProgress(job, currentStage, percent);
    };

    const track = await getTrack(deps.sql, job.trackId);
    if (!track) {
      jlog.warn('job for a track that does not exist (deleted?): skipping');
      return 'skipped';
    }
    if (track.publishedVersion !== null && track.publishedVersion >= job.version) {
      jlog.info('version already published (redelivered job): skipping');
      return 'skipped';
    }
    if (track.currentVersion > job.version) {
      jlog.info({ currentVersion: track.currentVersion }, 'superseded by a newer upload: skipping');
      return 'skipped';
    }

    let cleanPrefix = false;
    let earlyUploaded = new Set<string>();
    let source: { file: string; release(): void } | null = null;
    const work = await mkdtemp(path.join(opts.tmpDir ?? os.tmpdir(), `packager-${job.trackId}-v${job.version}-`));
    const media = { logger: jlog, tmpDir: work, threads: threadsPerJob, signal, tools: opts.tools };
    try {
      opts.onStage?.(job, 'downloading');
      await setProgress(job, 'downloading');
      const ext = job.source.format === 'flac' ? 'flac' : 'wav';
      source = await openOriginal(deps.objects, job.originalKey, path.join(work, `original.${ext}`));
      if (!source) throw new AppError('not_found', `The original upload (${job.originalKey}) is missing from storage. Upload the file again.`);
      const original = source.file;

      await stage('probing');
      // Headers only: the upload was decoded in full when ingest validated it, and the transcode decodes it
      // again (stopping at the first decode error). Only when that fails does the full check run (below).
      const [probe, tags] = await Promise.all([probeAudio(original, { ...media, decode: false }), readTags(original)]);

      await stage('transcoding');
      const outDir = path.join(work, 'out');
      const segmentDurationS = deps.config.SEGMENT_DURATION_S;
      let tr: TranscodeResult;
      let pkg: PackageResult;
      try {
        if (streamPackaging) {
          // ffmpeg -> FIFO -> shaka per rendition: segments are cut while the ladder encodes (transcoding covers
          // both), and stored as they are finished, so the upload left after the encoders is small.
          // A previous attempt may have left objects (it crashed before publishing): start from a clean prefix.
          await deps.objects.deletePrefix(prefix);
          cleanPrefix = true;
          const early = startEarlyUpload(deps.objects, outDir, prefix, jlog);
          let both;
          try {
            both = await transcodeAndPackage(original, outDir, { ...media, probe, segmentDurationS, onProgress: (p) => p.stage === 'transcode' && stageProgress(p.percent) });
          } catch (e) {
            await early.stop().catch(() => undefined); // the transcode's own error is the one to report
            throw e;
          }
          earlyUploaded = await early.stop();
          tr = both;
          pkg = both.package;
          await stage('packaging');
        } else {
          tr = await transcodeLadder(original, path.join(work, 'enc'), { ...media, probe, onProgress: (p) => stageProgress(p.percent) });
          await stage('packaging');
          pkg = await packageRenditions(tr.renditions, outDir, { ...media, segmentDurationS });
        }
        for (const r of pkg.renditions) {
          // Players see the playlist's duration: priming must have been trimmed (MP3 in TS keeps ~1 frame).
          // EXTINF rounding adds up over long tracks; renditionDurationMatches allows exactly that much.
          if (!renditionDurationMatches(r, probe.durationMs)) {
            throw new Error(`Rendition ${r.id} lasts ${r.durationMs} ms, the source ${probe.durationMs} ms.`);
          }
        }
      } catch (e) {
        // A transcode that stopped on a decode error, or renditions shorter than the header says (a truncated
        // FLAC), may be the source's fault: the full check names it (corrupt_audio) instead of a retried
        // internal error. A source that decodes cleanly keeps the original error.
        if (!probe.decoded && !signal?.aborted && !(isAppError(e) && e.status < 500)) await probeAudio(original, media);
        throw e;
      }
      const extras: { rel: string; data: Buffer | string; contentType: string }[] = [
        { rel: 'peaks.json', data: JSON.stringify({ v: 1, buckets: tr.peaks?.length ?? 0, durationMs: probe.durationMs, peaks: tr.peaks ?? [] }), contentType: 'application/json' },
      ];
      // An embedded picture becomes the cover unless the musician uploaded one (ingest's cover wins).
      let coverKey: string | undefined;
      if (tags.picture && !track.coverKey) {
        try {
          for (const c of await renderCovers(tags.picture.data)) extras.push({ rel: `cover/${c.size}.jpg`, data: c.data, contentType: c.mimeType });
          coverKey = `${prefix}cover`;
        } catch (e) {
          jlog.warn({ err: e }, 'embedded picture unreadable: no cover');
        }
      }

      await stage('uploading');
      // A previous attempt may have left objects (it crashed before publishing): start from a clean prefix.
      if (!cleanPrefix) await deps.objects.deletePrefix(prefix);
      await uploadAll(deps.objects, outDir, prefix, pkg.files.filter((f) => !earlyUploaded.has(f)), extras, signal, stageProgress);

      await stage('publishing');
      signal?.throwIfAborted();
      const applied = await markTrackReady(deps.sql, {
        trackId: job.trackId,
        version: job.version,
        durationMs: probe.durationMs,
        loudness: tr.loudness ? { integratedLufs: tr.loudness.integratedLufs, truePeakDb: tr.loudness.truePeakDb, gainDb: tr.loudness.gainDb } : null,
        renditions: pkg.renditions.map(catalogRendition),
        coverKey: coverKey ?? null,
        peaksKey: `${prefix}peaks.json`,
        notes: { downmixed: probe.downmix, source: { format: probe.format, sampleRate: probe.sampleRate, bitsPerSample: probe.bitsPerSample, channels: probe.channels } },
      });
      await invalidateTrack(deps.cache, job.trackId).catch(() => undefined);
      if (!applied) {
        jlog.info('a newer version was published meanwhile: this one stays unpublished');
        return 'skipped';
      }
      if (job.version > 1) {
        // Older versions stay in storage but must stop playing: every CDN edge drops (and answers 410 for)
        // versions below this one. Best effort: a failed send must not fail a published track.
        await deps.bus
          .send(CACHE_PURGE_TOPIC, [cachePurgeMessage({ trackId: job.trackId, reason: 'republished', beforeVersion: job.version })])
          .catch((err: unknown) => jlog.warn({ err }, 'cache purge not sent: edges keep serving older versions until their grants expire'));
      }
      opts.onStage?.(job, 'ready');
      await setProgress(job, 'ready', 100);
      metrics.audioSeconds.inc(probe.durationMs / 1000);
      jlog.info({ ms: Date.now() - started, renditions: pkg.renditions.length, lufs: tr.loudness?.integratedLufs }, 'track ready');
      return 'ready';
    } catch (e) {
      if (signal?.aborted) throw e;
      if (isAppError(e) && e.status < 500) {
        jlog.info({ code: e.code, detail: e.detail }, 'track failed');
        // Segments stored while encoding are unreachable (no manifest, no catalog flip) but would stay: remove them.
        if (cleanPrefix) await deps.objects.deletePrefix(prefix).catch((err: unknown) => jlog.warn({ err }, 'could not remove a failed version\'s objects'));
        await fail(job, e.code, e.detail);
        return 'failed';
      }
      throw e;
    } finally {
      metrics.stageSeconds.observe({ stage: currentStage }, (Date.now() - stageStarted) / 1000);
      source?.release();
      await rm(work, { recursive: true, force: true });
    }
  }

  async function handle(msg: ReceivedMessage, heartbeat: () => Promise<void>): Promise<void> {
    let job: TIngestJob;
    try {
      job = ZIngestJob.parse(JSON.parse(msg.value.toString('utf8')));
    } catch (err) {
      // A message no worker can ever read: log it and move on rather than block the partition.
      log.error({ err, offset: msg.offset, partition: msg.partition }, 'invalid ingest job: dropped');
      metrics.jobs.inc({ outcome: 'invalid' });
      return;
    }
    const release = await slots.acquire();
    const ac = new AbortController();
    inflight.add(ac);
    metrics.inflight.inc();
    const beat = setInterval(() => void heartbeat().catch(() => undefined), 3000);
    const started = Date.now();
    try {
      const outcome = await processJob(job, ac.signal);
      metrics.jobs.inc({ outcome });
      metrics.jobSeconds.observe({ outcome }, (Date.now() - started) / 1000);
      await deps.cache.del(attemptsKey(job)).catch(() => undefined);
    } catch (err) {
      if (ac.signal.aborted) throw err; // stopping: leave the message uncommitted
      const attempts = await deps.cache.incr(attemptsKey(job), ATTEMPTS_TTL_MS).catch(() => maxAttempts);
      if (attempts >= maxAttempts) {
        log.error({ err, trackId: job.trackId, version: job.version, attempts }, 'job failed for good');
        await fail(job, 'internal_error', 'Processing failed repeatedly on our side. Try uploading again later; if it keeps failing, contact support.');
        metrics.jobs.inc({ outcome: 'failed' });
        metrics.jobSeconds.observe({ outcome: 'failed' }, (Date.now() - started) / 1000);
        return;
      }
      log.warn({ err, trackId: job.trackId, version: job.version, attempts }, 'job failed, the bus will deliver it again');
      metrics.jobs.inc({ outcome: 'retried' });
      throw err;
    } finally {
      clearInterval(beat);
      metrics.inflight.dec();
      inflight.delete(ac);
      release();
    }
  }

  /**
   * The in-process bus lives and dies with this process: jobs queued or in flight when it stopped
   * (Ctrl-C mid-transcode, a crash, an OOM kill) are gone, and their tracks would say `processing`
   * forever. With that bus the web process and this worker are one process, so at start nothing can
   * be legitimately in flight: every `processing` track is an orphan and gets its job sent again
   * (idempotent by track id and version, like any redelivery). Kafka keeps uncommitted jobs itself.
   */
  async function requeueOrphans(): Promise<void> {
    const rows = await deps.sql.selectFrom('tracks').select(['id']).where('status', '=', 'processing').execute().catch((err: unknown) => {
      log.warn({ err }, 'could not look for orphaned processing tracks');
      return [] as Array<{ id: string }>;
    });
    for (const { id } of rows as Array<{ id: string }>) {
      const track = await getTrack(deps.sql, id);
      if (!track || track.status !== 'processing') continue;
      const version = track.currentVersion;
      if (!track.originalKey || !(await deps.objects.head(track.originalKey).catch(() => null))) {
        await markTrackFailed(deps.sql, { trackId: id, version, code: 'internal_error', detail: 'The original upload is missing from storage; upload the file again.' });
        await invalidateTrack(deps.cache, id).catch(() => undefined);
        continue;
      }
      const source = (track.notes.source ?? {}) as { format?: string; downmix?: boolean };
      const job: TIngestJob = ZIngestJob.parse({
        v: 1,
        trackId: id,
        version,
        originalKey: track.originalKey,
        uploadedBy: track.ownerUserId ?? 'unknown',
        requestedAt: new Date().toISOString(),
        source: { format: source.format === 'flac' || track.originalKey.endsWith('.flac') ? 'flac' : 'wav', downmix: source.downmix === true },
      });
      await deps.bus.send(topic, [{ key: id, value: JSON.stringify(job), headers: { 'content-type': 'application/json' } }]);
      log.warn({ trackId: id, version }, 'requeued a track left processing by a previous run');
    }
  }

  return {
    processJob,
    async start() {
      await removeStaleWorkDirs(opts.tmpDir ?? os.tmpdir(), log);
      // Warms fluent-ffmpeg's capability cache (else two ffmpeg spawns precede the first job's encoders) and
      // says early when ffmpeg lacks an encoder; not fatal: the web process may embed this worker.
      await checkFfmpeg(opts.tools).catch((err: unknown) => log.error({ err }, 'ffmpeg check failed: transcoding jobs will fail until ffmpeg is fixed'));
      await deps.bus.ensureTopic(topic);
      consumer = await deps.bus.subscribe({
        topic,
        groupId: opts.groupId ?? PACKAGER_GROUP,
        maxBatchSize: 1,
        retryBackoffMs: 1000,
        ...(opts.sessionTimeoutMs ? { sessionTimeoutMs: opts.sessionTimeoutMs } : {}),
        eachBatch: async (messages, ctx) => {
          for (const m of messages) await handle(m, ctx.heartbeat);
        },
      });
      log.info({ topic, concurrency, threadsPerJob }, 'packager consuming');
      if (deps.bus.kind === 'memory') await requeueOrphans();
    },
    async stop(stopOpts = {}) {
      if (stopOpts.abort ?? true) for (const ac of inflight) ac.abort(new Error('packager stopping'));
      await consumer?.stop();
      consumer = null;
    },
  };
}

/**
 * The original as a local file for ffprobe and ffmpeg. The filesystem store's get() is a read stream over
 * a descriptor that pins this version of the object; on Linux its /proc path opens that very file, so
 * both ffmpeg processes read the stored original in place: no 50 MB copy before the transcode can start
 * (the stream is never read; release() closes it). Other stores (S3) and platforms: downloaded to `dest`.
 */
async function openOriginal(objects: ObjectStore, key: string, dest: string): Promise<{ file: string; release(): void } | null> {
  if (objects.kind === 'fs' && process.platform === 'linux') {
    const r = await objects.get(key);
    if (!r) return null;
    const fd = (r.body as Readable & { fd?: unknown }).fd;
    const file = `/proc/${process.pid}/fd/${String(fd)}`;
    if (typeof fd === 'number' && (await access(file, fsConstants.R_OK).then(() => true, () => false))) {
      return { file, release: () => r.body.destroy() };
    }
    r.body.destroy();
  }
  if (!(await objects.getFile(key, dest))) return null;
  return { file: dest, release: () => undefined };
}

/** Work dirs of jobs whose worker was killed (SIGKILL leaves them behind); old enough to be nobody's. */
const STALE_WORK_DIR_MS = 6 * 3600_000;
async function removeStaleWorkDirs(dir: string, log: Logger): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    if (!e.isDirectory() || !e.name.startsWith('packager-')) continue;
    const p = path.join(dir, e.name);
    const st = await stat(p).catch(() => null);
    if (st && Date.now() - st.mtimeMs > STALE_WORK_DIR_MS) {
      await rm(p, { recursive: true, force: true }).catch(() => undefined);
      log.info({ dir: p }, 'removed a stale work dir');
    }
  }
}

const attemptsKey = (job: TIngestJob) => `ingest:attempts:${job.trackId}:v${job.version}`;

/**
 * Stores the segments shaka finishes while the ladder is still encoding. shaka (one single-threaded run
 * per rendition) writes each segment whole, in order, into its own file: once `N+1.m4s` (or `.ts`) exists,
 * `N` is complete. Init segments and playlists wait for the end (shaka writes them last or rewrites them).
 * Puts are deferred-durable; uploadAll's flush covers them before any playlist is written. stop() returns
 * what was stored (relative paths), after the put in flight, and throws the first failed put.
 */
function startEarlyUpload(objects: ObjectStore, dir: string, prefix: string, log: Logger): { stop(): Promise<Set<string>> } {
  const done = new Set<string>();
  let stopping = false;
  let failure: unknown;
  let wake = () => {};
  const loop = (async () => {
    while (!stopping && failure === undefined) {
      await new Promise<void>((r) => {
        const timer = setTimeout(r, EARLY_UPLOAD_POLL_MS);
        wake = () => {
          clearTimeout(timer);
          r();
        };
      });
      // Stopped while waiting: what is left goes with uploadAll, no last pass (it held the job up to 250 ms).
      if (stopping) break;
      const renditions = await readdir(dir, { withFileTypes: true }).catch(() => []);
      const ready: string[] = [];
      for (const d of renditions) {
        if (!d.isDirectory()) continue;
        const numbers = new Set<number>();
        let ext = '';
        for (const f of await readdir(path.join(dir, d.name)).catch(() => [] as string[])) {
          const m = /^(\d+)\.(m4s|ts)$/.exec(f);
          if (m) {
            numbers.add(Number(m[1]));
            ext = m[2];
          }
        }
        for (const n of numbers) {
          const rel = `${d.name}/${n}.${ext}`;
          if (numbers.has(n + 1) && !done.has(rel)) ready.push(rel);
        }
      }
      let i = 0;
      await Promise.all(Array.from({ length: Math.min(4, ready.length) }, async () => {
        while (i < ready.length && failure === undefined && !stopping) {
          const rel = ready[i++];
          try {
            await objects.putFile(prefix + rel, path.join(dir, rel), { deferDurability: true });
            done.add(rel);
          } catch (e) {
            failure ??= e;
          }
        }
      }));
    }
  })();
  return {
    async stop() {
      stopping = true;
      wake();
      await loop;
      if (failure !== undefined) {
        log.warn({ err: failure }, 'storing a segment while encoding failed');
        throw failure;
      }
      return done;
    },
  };
}
const EARLY_UPLOAD_POLL_MS = 250;

/** Media first (parallel), then media playlists, then master + MPD: a reader never sees a manifest before what it points to. */
async function uploadAll(
  objects: ObjectStore,
  dir: string,
  prefix: string,
  files: string[],
  extras: { rel: string; data: Buffer | string; contentType: string }[],
  signal: AbortSignal | undefined,
  onProgress: (percent: number) => void,
): Promise<void> {
  const isManifest = (f: string) => f.endsWith('.m3u8') || f.endsWith('.mpd');
  const media = files.filter((f) => !isManifest(f));
  const playlists = files.filter((f) => isManifest(f) && f.includes('/'));
  const top = files.filter((f) => isManifest(f) && !f.includes('/'));
  const total = files.length + extras.length;
  let done = 0;
  const tick = () => onProgress((++done / total) * 100);
  const pool = async <T>(items: T[], n: number, fn: (x: T) => Promise<void>) => {
    let i = 0;
    await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
      while (i < items.length) {
        signal?.throwIfAborted();
        const item = items[i++];
        await fn(item);
        tick();
      }
    }));
  };
  // Many small objects: parallel puts hide per-object latency (a round trip on S3). Durability is batched:
  // one flush makes every segment durable before any playlist naming it is written, and the playlists are
  // flushed before the master and MPD (written durable one by one) name them. So after a crash a manifest
  // never points at a segment that did not survive (on S3 every acknowledged PUT is durable anyway).
  const deferred = { deferDurability: true };
  await pool(media, 16, (f) => objects.putFile(prefix + f, path.join(dir, f), deferred).then(() => undefined));
  await pool(extras, 4, (x) => objects.put(prefix + x.rel, x.data, { ...deferred, contentType: x.contentType }).then(() => undefined));
  signal?.throwIfAborted();
  await objects.flush(prefix);
  await pool(playlists, 8, (f) => objects.putFile(prefix + f, path.join(dir, f), { ...deferred, contentType: 'application/vnd.apple.mpegurl' }).then(() => undefined));
  signal?.throwIfAborted();
  await objects.flush(prefix);
  for (const f of top) {
    signal?.throwIfAborted();
    await objects.putFile(prefix + f, path.join(dir, f), { contentType: f.endsWith('.mpd') ? 'application/dash+xml' : 'application/vnd.apple.mpegurl' });
    tick();
  }
}
