/**
 * @platform/recommender: hot now, similar tracks, personal picks and cold start, trained as a job
 * into versioned artifacts and served under /api. Offline evaluation lives in ./eval (subpath export)
 * so the CLI loads no HTTP code for it.
 */
export { recommenderRoutes, type RecommenderRoutesOptions } from './routes';
export { RecsService, diversify, DEFAULT_RECS_SERVICE_OPTIONS, type RecsServiceOptions } from './serving';
export { runTrainingJob, type TrainJobOptions, type TrainJobResult } from './train-job';
export { trainArtifact, trainArtifactParallel, contentSimilar, DEFAULT_TRAIN_OPTIONS, type TrainOptions } from './train';
export { saveArtifact, saveEncodedArtifact, encodeArtifact, loadArtifact, readLatestPointer, pruneArtifacts, versionFor, RECS_PREFIX } from './artifact-store';
export { trainInWorker, type TrainInWorkerOptions, type TrainInWorkerResult } from './train-worker-client';
export { loadCompactModel } from './model-loader';
export type { CompactModel } from './compact-model';
export { hotNow, DEFAULT_HOT_NOW, type HotNowOptions, type HotTrack } from './hot-now';
export { SIGNAL_WEIGHTS, SignalAccumulator, readCatalogSignals, readListeningSignals, readCatalogTracks, type CatalogTrack } from './signals';
export { createPersonalPicks, createEvalModels } from './personal-picks';
export { buildMatrix, type Interaction, type InteractionMatrix } from './matrix';
export type { Recommender, UserHistory } from './models/types';
export { plantedClusters, type PlantedClusters } from './synthetic';
export { startTrainingSchedule, type TrainingSchedule } from './schedule';
