/**
 * Prometheus metrics of the analytics service. Registered on the shared registry once per name, so the
 * routes and the consumer (and several instances in tests) can share one registry.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

function once<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export function analyticsMetrics(registry: Registry) {
  const r = [registry];
  return {
    beaconRequests: once(registry, 'beacon_requests_total', () =>
      new Counter({ name: 'beacon_requests_total', help: 'POST /api/beacons requests by outcome', labelNames: ['outcome'], registers: r })),
    beaconEvents: once(registry, 'beacon_events_total', () =>
      new Counter({ name: 'beacon_events_total', help: 'Beacon events by outcome: accepted, or the reason they were dropped', labelNames: ['outcome'], registers: r })),
    beaconBuffered: once(registry, 'beacon_buffered_events', () =>
      new Gauge({ name: 'beacon_buffered_events', help: 'Accepted events waiting in the collector buffer because the bus did not acknowledge', registers: r })),
    produceFailures: once(registry, 'beacon_produce_failures_total', () =>
      new Counter({ name: 'beacon_produce_failures_total', help: 'Bus sends that failed or timed out (the events stay buffered)', registers: r })),
    consumerEvents: once(registry, 'analytics_consumer_events_total', () =>
      new Counter({ name: 'analytics_consumer_events_total', help: 'Events seen by the ClickHouse writer by outcome: inserted, duplicate, invalid', labelNames: ['outcome'], registers: r })),
    insertFailures: once(registry, 'analytics_insert_failures_total', () =>
      new Counter({ name: 'analytics_insert_failures_total', help: 'ClickHouse inserts that failed (retried with backoff)', registers: r })),
    insertSeconds: once(registry, 'analytics_insert_seconds', () =>
      new Histogram({ name: 'analytics_insert_seconds', help: 'Time of one ClickHouse insert of a batch', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: r })),
    freshness: once(registry, 'analytics_event_freshness_seconds', () =>
      new Histogram({ name: 'analytics_event_freshness_seconds', help: 'Collector accepted -> row inserted in ClickHouse', buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60], registers: r })),
    queryFailures: once(registry, 'analytics_query_failures_total', () =>
      new Counter({ name: 'analytics_query_failures_total', help: 'Chart/QoE/stats queries that failed', labelNames: ['route'], registers: r })),
  };
}
export type AnalyticsMetrics = ReturnType<typeof analyticsMetrics>;
