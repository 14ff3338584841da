/**
 * The training job (`platform recs train`, run on a schedule): read signals from ClickHouse and
 * PostgreSQL, train, and publish a new artifact version to object storage.
 */
import type { PlatformDeps } from '@platform/runtime';
import type { ResourceLimits, Worker } from 'node:worker_threads';
import { encodeArtifact, pruneArtifacts, saveEncodedArtifact, versionFor } from './artifact-store';
import { readCatalogSignals, readCatalogTracks, readListeningSignals, SignalAccumulator, type SignalCounts } from './signals';
import { DEFAULT_TRAIN_OPTIONS, trainArtifactParallel, type TrainTimings } from './train';
import { trainInWorker } from './train-worker-client';

export interface TrainJobOptions {
  /** How far back signals count. */
  days?: number;
  /** Artifact versions kept in storage. */
  keepVersions?: number;
  now?: Date;
  /**
   * Train in this thread instead of a worker thread (default false). The worker keeps the event
   * loop free for the HTTP servers sharing the process; the result is byte-identical either way.
   */
  inThread?: boolean;
  /** Aborting terminates the training worker; the job rejects with an AbortError, nothing is published. */
  signal?: AbortSignal;
  /** Heap limits for the training worker (a runaway run fails as a job instead of crashing the process). */
  workerResourceLimits?: ResourceLimits;
  /** Sees the training thread once started (observation only: tests, diagnostics). */
  onWorker?: (worker: Worker) => void;
}

export interface TrainJobResult {
  version: string;
  key: string;
  counts: { users: number; tracks: number; interactions: number };
  signals: SignalCounts;
  timings: TrainTimings & { readMs: number; writeMs: number; encodeMs?: number };
}

export async function runTrainingJob(deps: Pick<PlatformDeps, 'sql' | 'olap' | 'objects' | 'logger'>, opts: TrainJobOptions = {}): Promise<TrainJobResult> {
  const now = opts.now ?? new Date();
  const t0 = performance.now();
  const acc = new SignalAccumulator();
  const window = { days: opts.days ?? 180 };
  await readListeningSignals(deps.olap, acc, window, deps.logger);
  await readCatalogSignals(deps.sql, acc, window);
  const catalog = await readCatalogTracks(deps.sql);
  opts.signal?.throwIfAborted();
  const t1 = performance.now();
  const trainOpts = { ...DEFAULT_TRAIN_OPTIONS, version: versionFor(now), now };
  const trained = opts.inThread
    ? await (async () => {
      const { artifact, timings } = await trainArtifactParallel(acc.interactions(), catalog, trainOpts);
      const { version, trainedAt, model, counts } = artifact;
      return { gz: encodeArtifact(artifact), meta: { version, trainedAt, model, counts }, timings };
    })()
    : await trainInWorker(acc.interactions(), catalog, trainOpts, { signal: opts.signal, resourceLimits: opts.workerResourceLimits, onWorker: opts.onWorker });
  const { meta, timings } = trained;
  const t2 = performance.now();
  opts.signal?.throwIfAborted();
  const latest = await saveEncodedArtifact(deps.objects, meta, trained.gz);
  await pruneArtifacts(deps.objects, opts.keepVersions ?? 5);
  const t3 = performance.now();
  const result: TrainJobResult = {
    version: latest.version,
    key: latest.key,
    counts: meta.counts,
    signals: acc.counts,
    timings: { ...timings, readMs: t1 - t0, writeMs: t3 - t2 },
  };
  deps.logger.info({ ...result, trainMs: t2 - t1 }, 'recs: trained and published a model version');
  return result;
}
