/**
 * The origin (:8082): media objects from object storage, for CDN edges only. It is deliberately
 * boring: exact HTTP semantics (HEAD, Range, ETag/If-None-Match, Content-Type, Cache-Control that
 * edges and browsers obey), one strict key parser shared with the edge, and a shared credential
 * that every request except the probes must present (a player that reaches it directly gets 403).
 */
import type { Server } from 'node:http';
import { Counter, Histogram } from 'prom-client';
import type { PlatformDeps } from '@platform/runtime';
import { AppError } from '@platform/errors';
import { createServiceHttp, redactGrantInUrl, sendProblem } from '@platform/http';
import {
  EDGE_AUTH_HEADER,
  MEDIA_TYPES,
  createEdgeCredentialCheck,
  etagMatches,
  isManifestExt,
  loadEdgeOriginSecret,
  parseMediaKey,
  parseRange,
  ifRangeAllows,
} from '@platform/grants';

export type OriginDeps = Pick<PlatformDeps, 'config' | 'logger' | 'metrics' | 'objects'> & {
  /** Defaults to loadEdgeOriginSecret(config). */
  edgeOriginSecret?: string;
  /** Cache-Control for manifests (default MANIFEST_CACHE_CONTROL). */
  manifestCacheControl?: string;
};

/** Versioned paths never change content: a year, immutable (no revalidation on reload). */
export const SEGMENT_CACHE_CONTROL = 'public, max-age=31536000, immutable';
/**
 * Manifests may be rewritten in place when a version is re-packaged (codec string fixes), so edges
 * revalidate them often; stale-if-error lets edges keep playing when the origin is down.
 */
export const MANIFEST_CACHE_CONTROL = 'public, max-age=10, stale-while-revalidate=30, stale-if-error=86400';

const PROBES = new Set(['/healthz', '/readyz', '/metrics']);

export interface OriginServer {
  app: import('fastify').FastifyInstance;
  listen(port?: number, host?: string): Promise<Server>;
  close(): Promise<void>;
}

export function createOriginServer(deps: OriginDeps): OriginServer {
  const { config, logger, metrics, objects } = deps;
  const isEdge = createEdgeCredentialCheck(deps.edgeOriginSecret ?? loadEdgeOriginSecret(config));
  const manifestCacheControl = deps.manifestCacheControl ?? MANIFEST_CACHE_CONTROL;

  const requests = new Counter({
    name: 'origin_requests_total',
    help: 'Requests that reached the origin (probes excluded), counted before any check.',
    registers: [metrics],
  });
  const responses = new Counter({
    name: 'origin_responses_total',
    help: 'Origin answers by status code (probes excluded).',
    labelNames: ['code'] as const,
    registers: [metrics],
  });
  const bytesSent = new Counter({ name: 'origin_bytes_sent_total', help: 'Body bytes the origin sent.', registers: [metrics] });
  const duration = new Histogram({
    name: 'origin_request_duration_seconds',
    help: 'Time to answer a media request (headers ready).',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [metrics],
  });

  const { app } = createServiceHttp({
    name: 'origin',
    logger: logger.child({ component: 'origin' }),
    registry: metrics,
    readiness: { objects: () => objects.ping() },
  });

  app.addHook('onRequest', async (request, reply) => {
    const path = request.url.split('?')[0];
    if (PROBES.has(path)) return;
    requests.inc();
    reply.header('access-control-allow-origin', '*');
    reply.header('vary', 'origin');
    if (!isEdge(request.headers[EDGE_AUTH_HEADER])) {
      request.log.warn({ url: redactGrantInUrl(path).slice(0, 200), ip: request.ip }, 'origin request without edge credential');
      // Same answer for every non-edge caller; says where to go instead.
      sendProblem(reply, new AppError('forbidden', 'The origin serves CDN edges only; fetch media through the edge URL from GET /api/tracks/:id/playback.'));
      return reply;
    }
  });
  app.addHook('onResponse', async (request, reply) => {
    if (!PROBES.has(request.url.split('?')[0])) responses.labels(String(reply.statusCode)).inc();
  });

  app.route({
    method: ['GET', 'HEAD'],
    url: '/tracks/*',
    exposeHeadRoute: false,
    handler: async (request, reply) => {
      const end = duration.startTimer();
      // Use the raw URL: we refuse anything that would need decoding (see parseMediaKey).
      const rawPath = request.raw.url!.split('?')[0];
      const media = parseMediaKey(rawPath.slice(1));
      if (!media) throw new AppError('bad_request', 'Not a media object path: expected /tracks/{trackId}/v{n}/{file} with letters, digits, dot, dash or underscore.');
      const info = await objects.head(media.key);
      if (!info) throw new AppError('not_found', `No media object at ${media.key}.`);

      const contentType = MEDIA_TYPES[media.ext];
      reply.header('content-type', contentType);
      reply.header('etag', info.etag);
      reply.header('last-modified', info.lastModified.toUTCString());
      reply.header('cache-control', isManifestExt(media.ext) ? manifestCacheControl : SEGMENT_CACHE_CONTROL);
      reply.header('accept-ranges', 'bytes');
      reply.header('access-control-expose-headers', 'content-length, content-range, etag, accept-ranges');

      if (etagMatches(request.headers['if-none-match'], info.etag)) {
        end();
        return reply.code(304).send();
      }
      const lastModified = info.lastModified.toUTCString();
      const range = ifRangeAllows(request.headers['if-range'], info.etag, lastModified) ? parseRange(request.headers.range, info.size) : { kind: 'none' as const };
      if (range.kind === 'unsatisfiable') {
        end();
        reply.header('content-range', `bytes */${info.size}`);
        throw new AppError('range_not_satisfiable', `The object is ${info.size} bytes; ask for a range inside it.`);
      }
      const isPartial = range.kind === 'ok';
      const length = isPartial ? range.end - range.start + 1 : info.size;
      reply.header('content-length', String(length));
      if (isPartial) reply.header('content-range', `bytes ${range.start}-${range.end}/${info.size}`);
      reply.code(isPartial ? 206 : 200);
      end();
      if (request.method === 'HEAD') return reply.send();

      const got = await objects.get(media.key, isPartial ? { start: range.start, end: range.end } : undefined);
      if (!got) throw new AppError('not_found', `No media object at ${media.key}.`);
      bytesSent.inc(length);
      return reply.send(got.body);
    },
  });

  return {
    app,
    async listen(port = config.ORIGIN_PORT, host = config.HOST) {
      await app.listen({ port, host });
      return app.server;
    },
    close: () => app.close(),
  };
}
