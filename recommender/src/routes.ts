/**
 * HTTP: `GET /api/recommendations?limit=20` (session user) and `GET /api/tracks/:id/similar?limit=20`,
 * both `{tracks: [{id, title, artist, score, reason}]}`. Registered on the web server after the
 * catalog's auth hook, which sets request.user.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { PlatformDeps } from '@platform/runtime';
import { parseOr400 } from '@platform/http';
import { requireUser } from '@platform/catalog';
import { ZRecommendationsQuery, ZSimilarParams, type TRecommendationsResponse } from '@platform/models';
import { RecsService, type RecsServiceOptions } from './serving';

export interface RecommenderRoutesOptions extends Partial<RecsServiceOptions> {
  /** Share one service (and its loaded model) with other code, e.g. a test or a like hook. */
  service?: RecsService;
}

export function recommenderRoutes(deps: PlatformDeps, opts: RecommenderRoutesOptions = {}): FastifyPluginAsync {
  return async (app) => {
    const service = opts.service ?? new RecsService(deps, opts);
    app.get('/api/recommendations', async (request, reply) => {
      const user = requireUser(request);
      const { limit } = parseOr400(ZRecommendationsQuery, request.query, 'query');
      const body: TRecommendationsResponse = { tracks: await service.recommend(user.id, limit) };
      reply.header('cache-control', 'private, no-store');
      return body;
    });
    app.get('/api/tracks/:id/similar', async (request) => {
      const { id } = parseOr400(ZSimilarParams, request.params, 'params');
      const { limit } = parseOr400(ZRecommendationsQuery, request.query, 'query');
      const body: TRecommendationsResponse = { tracks: await service.similar(id, limit) };
      return body;
    });
  };
}
