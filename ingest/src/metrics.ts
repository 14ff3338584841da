/** Prometheus metrics for the upload side of ingest, registered once per registry. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface IngestMetrics {
  uploads: Counter<'via' | 'outcome'>;
  uploadBytes: Counter<'via'>;
  validationSeconds: Histogram<string>;
  uploadsInFlight: Gauge<'via'>;
  sseClients: Gauge<string>;
}

const cache = new WeakMap<Registry, IngestMetrics>();

export function ingestMetrics(registry: Registry): IngestMetrics {
  const known = cache.get(registry);
  if (known) return known;
  const m: IngestMetrics = {
    uploads: new Counter({ name: 'ingest_uploads_total', help: 'Uploads by transport and outcome (accepted or the error code).', labelNames: ['via', 'outcome'], registers: [registry] }),
    uploadBytes: new Counter({ name: 'ingest_upload_bytes_total', help: 'Bytes of accepted originals.', labelNames: ['via'], registers: [registry] }),
    validationSeconds: new Histogram({ name: 'ingest_validation_seconds', help: 'Time to validate an upload by content (probe + full decode).', buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers: [registry] }),
    uploadsInFlight: new Gauge({ name: 'ingest_uploads_in_flight', help: 'Uploads currently streaming to disk.', labelNames: ['via'], registers: [registry] }),
    sseClients: new Gauge({ name: 'ingest_status_streams', help: 'Open status event streams.', registers: [registry] }),
  };
  cache.set(registry, m);
  return m;
}
