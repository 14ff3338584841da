/**
 * ingestRoutes(deps): the upload half of ingest as one Fastify plugin on the web app (:8080).
 * It relies on the catalog's auth hook (request.user) being registered first, app-wide.
 *   POST /api/tracks                    multipart upload -> 202 {id, status: "processing"}
 *   POST /api/tracks/:id/replace        new audio for an existing track (new version)
 *   POST /api/tracks/:id/retry          re-queue a failed track from its kept original
 *   GET  /api/tracks/:id/status         status + progress (owner)
 *   GET  /api/tracks/:id/events         the same as Server-Sent Events until ready/failed
 *   GET  /api/tracks/:id/cover?size=    cover art (96, 300, 600)
 *   PUT  /api/tracks/:id/cover          replace the cover alone (image body or multipart `cover`); DELETE drops it
 *   GET  /api/tracks/:id/peaks          waveform peaks JSON
 *   GET  /api/me/tracks                 the musician's own tracks in every state, with progress
 *   *    /api/uploads/                  tus 1.0 resumable uploads; GET /api/uploads/:id/track
 */
import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import multipart from '@fastify/multipart';
import type { PlatformDeps } from '@platform/runtime';
import { ingestMetrics } from './metrics';
import { registerUploadRoutes } from './upload-route';
import { registerStatusRoutes } from './status-routes';
import { registerAssetRoutes } from './asset-routes';
import { registerCoverRoutes } from './cover-route';
import { registerTusUploads } from './tus-uploads';
import { defaultValidationSlots, Gate, INGEST_TOPIC, type SubmitContext } from './submit';

export interface IngestRoutesOptions {
  /** Where uploads are spooled while they arrive (default `${DATA_DIR}/uploads`). */
  uploadDir?: string;
  /** Serve GET /api/me/tracks (default true: the portal's list of own tracks in every state, with progress). */
  myTracksRoute?: boolean;
  /** Topic for ingest jobs (default ingest.jobs). */
  jobsTopic?: string;
  /** Uploads validated at once (default: half the cores, at least 2); the rest wait their turn. */
  validationSlots?: number;
}

export function ingestRoutes(deps: PlatformDeps, opts: IngestRoutesOptions = {}): FastifyPluginAsync {
  return async (app) => {
    const ctx: SubmitContext = { deps, metrics: ingestMetrics(deps.metrics), topic: opts.jobsTopic ?? INGEST_TOPIC, validationGate: new Gate(opts.validationSlots ?? defaultValidationSlots()) };
    const root = opts.uploadDir ?? path.join(deps.config.dataDir, 'uploads');
    // Scoped to this plugin (not fastify-plugin): other plugins keep their own body parsing.
    await app.register(multipart, { throwFileSizeLimit: true });
    const incoming = path.join(root, 'incoming');
    await removeStaleSpool(incoming);
    registerUploadRoutes(app, ctx, incoming);
    registerStatusRoutes(app, ctx, { withMyTracks: opts.myTracksRoute ?? true });
    registerAssetRoutes(app, ctx);
    await registerCoverRoutes(app, ctx, incoming);
    await registerTusUploads(app, ctx, path.join(root, 'tus'));
  };
}

/** Spool folders survive only a crash mid-request; old ones are leftovers (another process may be mid-upload in new ones). */
async function removeStaleSpool(dir: string, olderThanMs = 6 * 3600_000): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  const now = Date.now();
  for (const name of names) {
    const p = path.join(dir, name);
    const st = await stat(p).catch(() => null);
    if (st && now - st.mtimeMs > olderThanMs) await rm(p, { recursive: true, force: true });
  }
}
