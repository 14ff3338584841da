/** The catalog on its own HTTP server (accounts + catalog API); the all-in-one web server composes the same plugins. */
import type { FastifyInstance } from 'fastify';
import { createServiceHttp, type ReadinessCheck } from '@platform/http';
import type { PlatformDeps } from '@platform/runtime';
import { authPlugin, type AuthOptions } from './auth';
import { catalogRoutes, type CatalogRoutesOptions } from './routes';

export interface CatalogServerOptions {
  readiness?: Record<string, ReadinessCheck>;
  auth?: AuthOptions;
  routes?: CatalogRoutesOptions;
}

export async function createCatalogServer(deps: PlatformDeps, opts: CatalogServerOptions = {}): Promise<{ app: FastifyInstance; close(): Promise<void> }> {
  const { app } = createServiceHttp({ name: 'catalog', logger: deps.logger, registry: deps.metrics, readiness: opts.readiness });
  await app.register(authPlugin(deps, opts.auth));
  await app.register(catalogRoutes(deps, opts.routes));
  return { app, close: () => app.close() };
}
