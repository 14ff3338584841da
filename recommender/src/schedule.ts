/**
 * Scheduled training inside a long-running process (the all-in-one `npm start` runner): one run
 * shortly after start when no model exists yet, then every `intervalMs`. A lock in deps.cache keeps
 * several processes sharing one Redis from training at the same time; a crontab calling
 * `platform recs train` is the alternative for split deployments.
 */
import type { PlatformDeps } from '@platform/runtime';
import { readLatestPointer } from './artifact-store';
import { runTrainingJob, type TrainJobOptions } from './train-job';

export interface TrainingSchedule {
  /** Stops the schedule; a run in progress is aborted (its worker terminated). Resolves once it has ended. */
  stop(): Promise<void>;
}

export function startTrainingSchedule(
  deps: Pick<PlatformDeps, 'sql' | 'olap' | 'objects' | 'logger' | 'cache'>,
  opts: { intervalMs: number; firstDelayMs?: number; job?: TrainJobOptions },
): TrainingSchedule {
  let running: Promise<void> | null = null;
  let stopped = false;
  // stop() aborts a run in progress: the training worker is terminated, nothing is published.
  const abort = new AbortController();
  const lockKey = 'recs:v1:train-lock';
  const runOnce = async () => {
    if (stopped || running) return;
    running = (async () => {
      // The lock outlives a crashed run by at most one interval.
      if (!(await deps.cache.setIfAbsent(lockKey, String(process.pid), opts.intervalMs))) return;
      try {
        await runTrainingJob(deps, { ...opts.job, signal: abort.signal });
      } catch (err) {
        if (abort.signal.aborted) deps.logger.info('recs: scheduled training stopped with the process; the previous model keeps serving');
        else deps.logger.error({ err }, 'recs: scheduled training failed; the previous model keeps serving');
      } finally {
        await deps.cache.del(lockKey);
      }
    })().finally(() => { running = null; });
    await running;
  };
  const timer = setInterval(() => void runOnce(), opts.intervalMs);
  timer.unref();
  const first = setTimeout(async () => {
    try {
      if (!(await readLatestPointer(deps.objects))) await runOnce();
    } catch (err) {
      deps.logger.warn({ err }, 'recs: could not check for an existing model');
    }
  }, opts.firstDelayMs ?? 30_000);
  first.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      clearTimeout(first);
      abort.abort();
      await running;
    },
  };
}
