/**
 * The training job (`platform recs train`, run on a schedule): read signals from ClickHouse and
 * PostgreSQL, train, and publish a new artifact version to object storage.
 */
import type { PlatformDeps } from '@platform/runtime';
import { pruneArtifacts, saveArtifact, versionFor } from './artifact-store';
import { readCatalogSignals, readCatalogTracks, readListeningSignals, SignalAccumulator, type SignalCounts } from './signals';
import { DEFAULT_TRAIN_OPTIONS, trainArtifactParallel, type TrainTimings } from './train';

export interface TrainJobOptions {
  /** How far back signals count. */
  days?: number;
  /** Artifact versions kept in storage. */
  keepVersions?: number;
  now?: Date;
}

export interface TrainJobResult {
  version: string;
  key: string;
  counts: { users: number; tracks: number; interactions: number };
  signals: SignalCounts;
  timings: TrainTimings & { readMs: number; writeMs: number };
}

export async function runTrainingJob(deps: Pick<PlatformDeps, 'sql' | 'olap' | 'objects' | 'logger'>, opts: TrainJobOptions = {}): Promise<TrainJobResult> {
  const now = opts.now ?? new Date();
  const t0 = performance.now();
  const acc = new SignalAccumulator();
  const window = { days: opts.days ?? 180 };
  await readListeningSignals(deps.olap, acc, window, deps.logger);
  await readCatalogSignals(deps.sql, acc, window);
  const catalog = await readCatalogTracks(deps.sql);
  const t1 = performance.now();
  const { artifact, timings } = await trainArtifactParallel(acc.interactions(), catalog, { ...DEFAULT_TRAIN_OPTIONS, version: versionFor(now), now });
  const t2 = performance.now();
  const latest = await saveArtifact(deps.objects, artifact);
  await pruneArtifacts(deps.objects, opts.keepVersions ?? 5);
  const t3 = performance.now();
  const result: TrainJobResult = {
    version: latest.version,
    key: latest.key,
    counts: artifact.counts,
    signals: acc.counts,
    timings: { ...timings, readMs: t1 - t0, writeMs: t3 - t2 },
  };
  deps.logger.info({ ...result, trainMs: t2 - t1 }, 'recs: trained and published a model version');
  return result;
}
