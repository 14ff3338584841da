/**
 * @platform/analytics: playback beacons -> bus -> ClickHouse, and the read APIs over them.
 * - `analyticsRoutes(deps)`: Fastify plugin for /api/beacons, /api/charts/*, /api/artists/:id/stats, /api/qoe/summary
 * - `createAnalyticsConsumer(deps)`: the `analytics-writer` consumer group writing ClickHouse
 * - `ANALYTICS_TABLES`: what other services may read (the recommender reads `plays`)
 */
export { analyticsRoutes, type AnalyticsRoutesOptions } from './routes';
export { createAnalyticsConsumer, writeEventBlock, RecentIds, type AnalyticsConsumer, type AnalyticsConsumerOptions, type AnalyticsConsumerDeps, type AnalyticsConsumerStats } from './consumer';
export { ANALYTICS_TABLES, ANALYTICS_DDL, EVENT_COLUMN_NAMES, ensureAnalyticsSchema, ensureChartSnapshots, CHART_SNAPSHOT_WINDOWS } from './schema';
export { BeaconProducer, validateEvents, toEnvelopes, eventTimeOf } from './collector';
export { topTrackIds, chartTop, latestSnapshot, refreshChartSnapshots, type ChartTop, trendingTrackIds, artistTrackStats, qoeSummary, countDistinctEvents, windowBounds } from './queries';
export { envelopeRows, rowsBody, chTime, type EventRow } from './rows';
export { analyticsMetrics } from './metrics';
