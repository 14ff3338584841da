/** @platform/packager: ingest jobs -> transcoded, packaged, stored and published tracks. */
export { createPackagerWorker, trackPrefix, PACKAGER_GROUP, type PackagerDeps, type PackagerOptions, type PackagerWorker, type JobOutcome } from './worker';
export { createPackagerMetrics, type PackagerMetrics } from './metrics';
