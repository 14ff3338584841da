/** Prometheus metrics for recommendations (registered once per registry, shared by every route set). */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface RecsMetrics {
  requests: Counter<'endpoint' | 'cache'>;
  computeSeconds: Histogram<'endpoint'>;
  modelTrainedAt: Gauge;
}

const byRegistry = new WeakMap<Registry, RecsMetrics>();

export function recsMetrics(registry: Registry): RecsMetrics {
  let m = byRegistry.get(registry);
  if (!m) {
    m = {
      requests: new Counter({ name: 'recs_requests_total', help: 'Recommendation requests by endpoint and per-user cache outcome', labelNames: ['endpoint', 'cache'], registers: [registry] }),
      computeSeconds: new Histogram({ name: 'recs_compute_seconds', help: 'Time to build a list on a cache miss', labelNames: ['endpoint'], buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1], registers: [registry] }),
      modelTrainedAt: new Gauge({ name: 'recs_model_trained_at_seconds', help: 'Training time of the model being served (unix seconds)', registers: [registry] }),
    };
    byRegistry.set(registry, m);
  }
  return m;
}
