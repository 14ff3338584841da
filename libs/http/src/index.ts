/**
 * HTTP plumbing shared by every service: one error handler that answers RFC 9457 problem+json,
 * the health/readiness/metrics probes, and graceful close. Services own their routes; this owns
 * how any route's failure looks on the wire.
 */
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { ZodError } from 'zod';
import { AppError, isAppError, toProblem } from '@platform/errors';
import type { Logger } from '@platform/logging';

export { Registry };

export type ReadinessCheck = () => Promise<void>;

export interface ServiceHttpOptions {
  name: string;
  logger: Logger;
  /** Named dependency checks for /readyz; each throws when its dependency does not answer. */
  readiness?: Record<string, ReadinessCheck>;
  registry?: Registry;
  bodyLimit?: number;
  fastify?: Partial<FastifyServerOptions>;
  /** Set when the caller installs its own not-found handler (e.g. an SPA fallback). */
  customNotFound?: boolean;
}

export function createMetricsRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** Turn a ZodError into our validation problem (which field, why). */
export function validationError(err: ZodError, where = 'body'): AppError {
  const fields = err.issues.map((i) => ({ field: [where, ...i.path].join('.'), message: i.message }));
  const first = fields[0];
  return new AppError('validation_failed', first ? `${first.field}: ${first.message}` : `Invalid ${where}.`, { extra: { errors: fields } });
}

/** Parse with zod or throw a 400 problem naming the field. */
export function parseOr400<T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: ZodError } }, value: unknown, where = 'body'): T {
  const r = schema.safeParse(value);
  if (!r.success) throw validationError(r.error, where);
  return r.data;
}

export function sendProblem(reply: import('fastify').FastifyReply, e: AppError): void {
  if (e.retryAfter !== undefined) reply.header('retry-after', String(e.retryAfter));
  reply.code(e.status).type('application/problem+json').send(toProblem(e));
}

/**
 * Media URLs carry a bearer credential in the path (`/g/{grant}/tracks/...`): anyone holding the URL
 * can play the track until it expires, so a log line must never hold it (a refused grant may be one
 * character away from a valid one, so those are cut out too).
 */
export function redactGrantInUrl(url: string): string {
  return url.replace(/\/g\/[^/?#]*/g, '/g/[redacted]');
}

/** Fastify's request serializer, minus the grant in the URL. */
function serializeRequest(req: { method?: string; url?: string; host?: string; ip?: string; socket?: { remotePort?: number } }) {
  return {
    method: req.method,
    url: redactGrantInUrl(req.url ?? ''),
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}

export function createServiceHttp(opts: ServiceHttpOptions): { app: FastifyInstance; registry: Registry } {
  const registry = opts.registry ?? createMetricsRegistry(opts.name);
  const app = Fastify({
    // A child whose own req serializer replaces Fastify's default one (pino child serializers win).
    loggerInstance: opts.logger.child({}, { serializers: { req: serializeRequest } }),
    bodyLimit: opts.bodyLimit ?? 1024 * 1024,
    trustProxy: false,
    ...(opts.fastify ?? {}),
  });

  app.setErrorHandler((error: unknown, request, reply) => {
    let e: AppError;
    if (isAppError(error)) e = error;
    else if (error instanceof ZodError) e = validationError(error);
    else {
      const fe = error as { statusCode?: number; code?: string; message?: string; validation?: unknown };
      if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || fe.statusCode === 413) e = new AppError('payload_too_large', 'The request body is larger than this endpoint accepts.');
      else if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || fe.statusCode === 415) e = new AppError('unsupported_format', fe.message ?? 'Unsupported content type.');
      else if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) e = new AppError('bad_request', fe.message ?? 'Bad request.');
      else if (fe.code === 'ECONNRESET' || (fe.message === 'aborted' && request.raw.readableAborted)) {
        // The client hung up mid-body (a cancelled upload): nobody will read the answer, and it is not our error.
        request.log.info({ reason: fe.message }, 'client aborted the request');
        e = new AppError('bad_request', 'The request was aborted before its body arrived.');
      } else {
        request.log.error({ err: error }, 'unhandled error');
        e = new AppError('internal_error', 'Something went wrong on our side; it has been logged.');
      }
    }
    if (e.status >= 500 && isAppError(error)) request.log.warn({ code: e.code, detail: e.detail }, 'request failed');
    sendProblem(reply, e);
  });

  if (!opts.customNotFound) app.setNotFoundHandler((request, reply) => {
    sendProblem(reply, new AppError('not_found', `No route for ${request.method} ${request.url.split('?')[0]}.`));
  });

  registerProbes(app, registry, opts.readiness ?? {});
  return { app, registry };
}

export function registerProbes(app: FastifyInstance, registry: Registry, readiness: Record<string, ReadinessCheck>): void {
  app.get('/healthz', { logLevel: 'warn' }, async () => ({ status: 'ok' }));
  app.get('/readyz', { logLevel: 'warn' }, async (_req, reply) => {
    const checks: Record<string, string> = {};
    let ok = true;
    await Promise.all(
      Object.entries(readiness).map(async ([name, check]) => {
        try {
          await withTimeout(check(), 2000);
          checks[name] = 'ok';
        } catch (e) {
          ok = false;
          checks[name] = (e as Error).message || 'failed';
        }
      }),
    );
    reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', checks });
  });
  app.get('/metrics', { logLevel: 'warn' }, async (_req, reply) => {
    reply.type(registry.contentType).send(await registry.metrics());
  });
}

export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    }),
  ]);
}
