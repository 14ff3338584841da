/**
 * The web process on :8080: the JSON API under /api (route plugins from each service) and the
 * player's single-page app. Auth runs first, app-wide, so every plugin sees request.user.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import type { PlatformDeps } from '@platform/runtime';
import { AppError } from '@platform/errors';
import { createServiceHttp, sendProblem } from '@platform/http';
import { authPlugin, catalogRoutes } from '@platform/catalog';
import { ingestRoutes } from '@platform/ingest';
import { analyticsRoutes } from '@platform/analytics';
import { recommenderRoutes } from '@platform/recommender';
import { playbackRoutes } from '@platform/edge-workers';
import { ensurePlayerWebBuilt } from '@platform/player-web';

export interface WebServerDeps extends PlatformDeps {
  readiness?: Record<string, () => Promise<void>>;
}

export async function createWebServer(deps: WebServerDeps) {
  const { app } = createServiceHttp({
    name: 'web',
    logger: deps.logger,
    registry: deps.metrics,
    readiness: deps.readiness,
    // Uploads stream through multipart/tus with their own limits; JSON bodies stay small.
    bodyLimit: 1024 * 1024,
    customNotFound: true,
    // Only that many X-Forwarded-For entries from the right (our own proxies) are believed.
    fastify: deps.config.TRUST_PROXY_HOPS > 0 ? { trustProxy: (_address: string, hop: number) => hop < deps.config.TRUST_PROXY_HOPS } : {},
  });

  await app.register(authPlugin(deps));
  await app.register(catalogRoutes(deps));
  await app.register(ingestRoutes(deps));
  // startPlatform has already applied the ClickHouse schema.
  await app.register(analyticsRoutes(deps, { migrate: false }));
  await app.register(recommenderRoutes(deps));
  await app.register(playbackRoutes(deps));

  // A fresh clone has no built app yet: build it once (a few seconds) rather than serve a blank page.
  const root = await ensurePlayerWebBuilt();
  const hasApp = existsSync(path.join(root, 'index.html'));
  if (hasApp) {
    await app.register(fastifyStatic, { root, prefix: '/', wildcard: false, index: ['index.html'], cacheControl: false,
      setHeaders: (res, file) => {
        // Vite's hashed assets never change; index.html must always be revalidated.
        res.header('cache-control', file.includes(`${path.sep}assets${path.sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache');
      } });
  }
  app.setNotFoundHandler((request, reply) => {
    const url = request.url.split('?')[0];
    if (hasApp && request.method === 'GET' && !url.startsWith('/api/') && !path.extname(url)) {
      // Client-side routes (/artist/..., /library) get the SPA shell.
      return reply.header('cache-control', 'no-cache').sendFile('index.html');
    }
    sendProblem(reply, new AppError('not_found', `No route for ${request.method} ${url}.`));
  });

  return {
    app,
    close: () => app.close(),
  };
}
