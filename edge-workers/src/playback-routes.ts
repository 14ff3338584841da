/**
 * `GET /api/tracks/:id/playback` (served by the web process on :8080): signed HLS and DASH URLs on
 * the edge host for the track's published version. The grant sits in the URL path, so the relative
 * URIs inside the manifests inherit it (see edge-workers/README.md). Bound to the caller's session
 * when there is one.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { PlatformDeps } from '@platform/runtime';
import { AppError } from '@platform/errors';
import { parseOr400 } from '@platform/http';
import { ZPlaybackParams, type TPlaybackResponse } from '@platform/models';
import { getPublishedTrack } from '@platform/catalog';
import { grantPath, loadSigningKeys, signGrant, type SigningKey } from '@platform/grants';

export type PlaybackDeps = Pick<PlatformDeps, 'config' | 'sql'> & {
  /** Default: loadSigningKeys(config); the first key signs. */
  signingKeys?: SigningKey[];
  /** Default: EDGE_PUBLIC_URL, else http://127.0.0.1:EDGE_PORT. */
  edgePublicUrl?: string;
};

export const HLS_MASTER = 'master.m3u8';
export const DASH_MANIFEST = 'manifest.mpd';

export function playbackRoutes(deps: PlaybackDeps): FastifyPluginAsync {
  return async (app) => {
    const keys = deps.signingKeys ?? loadSigningKeys(deps.config);
    const edge = (deps.edgePublicUrl ?? deps.config.EDGE_PUBLIC_URL ?? `http://127.0.0.1:${deps.config.EDGE_PORT}`).replace(/\/+$/, '');
    const ttlMs = deps.config.PLAYBACK_GRANT_TTL;

    app.get('/api/tracks/:id/playback', async (request, reply) => {
      const { id } = parseOr400(ZPlaybackParams, request.params, 'params');
      const track = await getPublishedTrack(deps.sql, id);
      if (!track || track.publishedVersion === null) throw new AppError('not_found', 'No published track with this id; it may still be processing.');
      const version = track.publishedVersion;
      // Whole seconds, so the token and expiresAt agree exactly.
      const exp = Math.ceil((Date.now() + ttlMs) / 1000) * 1000;
      const user = (request as { user?: { sessionId?: string } | null }).user;
      const grant = signGrant(keys[0], { trackId: track.id, version, exp, sid: user?.sessionId });
      const base = `${edge}${grantPath(grant, `tracks/${track.id}/v${version}`)}`;
      const body: TPlaybackResponse = {
        trackId: track.id,
        version,
        hls: `${base}/${HLS_MASTER}`,
        dash: `${base}/${DASH_MANIFEST}`,
        expiresAt: new Date(exp).toISOString(),
      };
      // Signed URLs are per listener: never cached by shared caches.
      reply.header('cache-control', 'private, no-store');
      return body;
    });
  };
}
