/**
 * The all-in-one runner: wires real adapters from config once, then starts the services named in
 * SERVICES (default: all) in this process. `npm start` and the e2e suite use it; production runs each
 * service alone (SERVICES=edge, SERVICES=packager, ...) against shared engines (see infra/SCALING.md).
 *
 * Order matters on ports chosen at run time (tests pass port 0): origin first, then the edge that
 * fetches from it, then the web API that signs URLs on the edge's public address.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Config } from '@platform/config';
import { createLogger, type Logger } from '@platform/logging';
import { createDeps } from '@platform/runtime';
import { catalogMigrations } from '@platform/catalog';
import { createOriginServer } from '@platform/origin';
import { createEdgeServer } from '@platform/edge-workers';
import { createPackagerWorker } from '@platform/packager';
import { createAnalyticsConsumer, ensureAnalyticsSchema } from '@platform/analytics';
import { startTrainingSchedule } from '@platform/recommender';
import { createWebServer } from './web-server';

export const ALL_SERVICES = ['origin', 'edge', 'web', 'packager', 'analytics-consumer', 'recs-trainer'] as const;
export type ServiceName = (typeof ALL_SERVICES)[number];

export interface RunningPlatform {
  config: Config;
  webUrl: string | null;
  edgeUrl: string | null;
  originUrl: string | null;
  stop(): Promise<void>;
}

interface Stoppable {
  name: string;
  stop(): Promise<void>;
}

function urlOf(server: Server, host: string): string {
  const { port } = server.address() as AddressInfo;
  return `http://${host}:${port}`;
}

export async function startPlatform(config: Config, opts: { logger?: Logger; services?: readonly ServiceName[] } = {}): Promise<RunningPlatform> {
  const logger = opts.logger ?? createLogger({ name: 'platform', level: config.LOG_LEVEL });
  const services = new Set<ServiceName>(opts.services ?? ((config.SERVICES as ServiceName[] | undefined) ?? ALL_SERVICES));
  for (const s of services) if (!ALL_SERVICES.includes(s)) throw new Error(`Unknown service "${s}" in SERVICES (known: ${ALL_SERVICES.join(', ')})`);

  const started: Stoppable[] = [];
  // Catalog migrations run inside createDeps (Kysely's migrator serialises concurrent starters with a lock).
  const needsCatalog = services.has('web') || services.has('packager');
  const deps = await createDeps(config, logger, needsCatalog ? { migrations: catalogMigrations } : {});
  started.push({ name: 'engines', stop: () => deps.close() });
  let cfg = config;
  let webUrl: string | null = null;
  let edgeUrl: string | null = null;
  let originUrl: string | null = null;

  const stop = async () => {
    for (const s of started.reverse()) {
      try {
        await s.stop();
      } catch (e) {
        logger.warn({ err: e, service: s.name }, 'error while stopping');
      }
    }
    started.length = 0;
  };

  try {
    // The ClickHouse DDL once per start, here; the analytics routes and consumer are told not to repeat it.
    if (services.has('web') || services.has('analytics-consumer')) await ensureAnalyticsSchema(deps.olap, deps.logger);
    if (services.has('origin')) {
      const origin = await createOriginServer({ ...deps, config: cfg });
      const server = await origin.listen(cfg.ORIGIN_PORT, cfg.HOST);
      originUrl = urlOf(server, cfg.HOST);
      cfg = Object.freeze({ ...cfg, ORIGIN_URL: cfg.ORIGIN_URL ?? originUrl });
      started.push({ name: 'origin', stop: () => origin.close() });
      logger.info({ url: originUrl }, 'origin listening');
    }
    if (services.has('edge')) {
      const edge = await createEdgeServer({ ...deps, config: cfg });
      const server = await edge.listen(cfg.EDGE_PORT, cfg.HOST);
      edgeUrl = urlOf(server, cfg.HOST);
      cfg = Object.freeze({ ...cfg, EDGE_PUBLIC_URL: cfg.EDGE_PUBLIC_URL ?? edgeUrl });
      started.push({ name: 'edge', stop: () => edge.close() });
      logger.info({ url: edgeUrl }, 'edge listening');
    }
    if (services.has('packager')) {
      const worker = await createPackagerWorker({ ...deps, config: cfg });
      // The factory only builds the worker; start() subscribes it to ingest.jobs.
      await worker.start();
      started.push({ name: 'packager', stop: () => worker.stop() });
      logger.info('packager worker consuming ingest.jobs');
    }
    if (services.has('analytics-consumer')) {
      const consumer = await createAnalyticsConsumer({ ...deps, config: cfg }, { migrate: false });
      started.push({ name: 'analytics-consumer', stop: () => consumer.stop() });
      logger.info('analytics consumer writing playback.events to ClickHouse');
    }
    if (services.has('recs-trainer')) {
      // A cache lock keeps one trainer at a time however many processes run this service.
      const schedule = startTrainingSchedule(deps, { intervalMs: cfg.RECS_TRAIN_INTERVAL });
      started.push({ name: 'recs-trainer', stop: () => schedule.stop() });
    }
    if (services.has('web')) {
      const web = await createWebServer({ ...deps, config: cfg });
      await web.app.listen({ port: cfg.WEB_PORT, host: cfg.HOST });
      webUrl = urlOf(web.app.server, cfg.HOST);
      // Fastify's close drains in-flight requests before resolving.
      started.push({ name: 'web', stop: () => web.close() });
      logger.info({ url: webUrl }, 'web listening');
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { config: cfg, webUrl, edgeUrl, originUrl, stop };
}
