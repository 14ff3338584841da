/** Catalog metrics on the shared registry; get-or-create so two plugin instances can share one registry. */
import { Counter, Gauge, type Registry } from 'prom-client';

function counter(registry: Registry, name: string, help: string, labelNames: string[]): Counter<string> {
  return (registry.getSingleMetric(name) as Counter<string> | undefined) ?? new Counter({ name, help, labelNames, registers: [registry] });
}

export interface CatalogMetrics {
  cacheRequests: Counter<string>;
  logins: Counter<string>;
}

export function catalogMetrics(registry: Registry): CatalogMetrics {
  const cacheRequests = counter(registry, 'catalog_doc_cache_requests_total', 'Read-through document cache lookups by document kind and result (hit/miss).', ['doc', 'result']);
  if (!registry.getSingleMetric('catalog_doc_cache_hit_ratio')) {
    // A ratio gauge computed at scrape time from the counters, so dashboards need no PromQL division.
    new Gauge({
      name: 'catalog_doc_cache_hit_ratio',
      help: 'Hits / lookups of the track and artist document cache since process start.',
      labelNames: ['doc'],
      registers: [registry],
      async collect() {
        const data = await cacheRequests.get();
        const by: Record<string, { hit: number; total: number }> = {};
        for (const v of data.values) {
          const doc = String(v.labels.doc);
          by[doc] ??= { hit: 0, total: 0 };
          by[doc].total += v.value;
          if (v.labels.result === 'hit') by[doc].hit += v.value;
        }
        this.reset();
        for (const [doc, s] of Object.entries(by)) this.set({ doc }, s.total ? s.hit / s.total : 0);
      },
    });
  }
  return {
    cacheRequests,
    logins: counter(registry, 'catalog_logins_total', 'Login attempts by result (ok, invalid, rate_limited).', ['result']),
  };
}
