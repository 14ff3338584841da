/** Prometheus metrics of the packager (one set per registry; safe to create twice for the same registry). */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface PackagerMetrics {
  jobs: Counter<'outcome'>;
  failures: Counter<'code'>;
  jobSeconds: Histogram<'outcome'>;
  stageSeconds: Histogram<'stage'>;
  inflight: Gauge;
  audioSeconds: Counter;
}

function getOr<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export function createPackagerMetrics(registry: Registry): PackagerMetrics {
  const registers = [registry];
  return {
    jobs: getOr(registry, 'packager_jobs_total', () => new Counter({ name: 'packager_jobs_total', help: 'Ingest jobs finished, by outcome (ready, failed, retried, skipped).', labelNames: ['outcome'] as const, registers })),
    failures: getOr(registry, 'packager_failures_total', () => new Counter({ name: 'packager_failures_total', help: 'Jobs that ended failed, by error code.', labelNames: ['code'] as const, registers })),
    jobSeconds: getOr(registry, 'packager_job_duration_seconds', () => new Histogram({ name: 'packager_job_duration_seconds', help: 'Wall time of one job, download to publish.', labelNames: ['outcome'] as const, buckets: [1, 2, 5, 10, 20, 40, 80, 160, 320, 640], registers })),
    stageSeconds: getOr(registry, 'packager_stage_duration_seconds', () => new Histogram({ name: 'packager_stage_duration_seconds', help: 'Wall time per stage of a job.', labelNames: ['stage'] as const, buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 40, 80, 160], registers })),
    inflight: getOr(registry, 'packager_jobs_inflight', () => new Gauge({ name: 'packager_jobs_inflight', help: 'Jobs being processed now.', registers })),
    audioSeconds: getOr(registry, 'packager_audio_seconds_total', () => new Counter({ name: 'packager_audio_seconds_total', help: 'Seconds of audio packaged (divide by job time for the real-time factor).', registers })),
  };
}
