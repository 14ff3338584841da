/**
 * A whole training run (fit, per-user picks, similar tracks, and the artifact's JSON + gzip) in a
 * worker thread, so the process that runs the schedule (the all-in-one runner: web API, CDN edge)
 * keeps answering requests while it trains. Signals are read on the main thread (async I/O, the
 * database connections live there); the interactions cross as typed arrays in the transfer list
 * (no copy), the catalog by structured clone, and the artifact comes back as its stored bytes
 * (transferred), so the main thread neither serializes nor deserializes the model.
 *
 * The worker runs the same deterministic trainArtifactParallel as in-thread callers (it may start
 * its own picks worker above 5,000 users), so the bytes equal encodeArtifact(trainArtifact(...)).
 */
import { Worker, type ResourceLimits } from 'node:worker_threads';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { TRecsArtifact } from '@platform/models';
import type { Interaction } from './matrix';
import type { CatalogTrack } from './signals';
import type { TrainOptions, TrainTimings } from './train';
import type { EncodedRows } from './picks-worker-client';

export interface TrainWorkerInput {
  rows: EncodedRows;
  catalog: CatalogTrack[];
  opts: TrainOptions & { minUsersForWorker?: number };
}

export type TrainWorkerMessage =
  | { ok: true; gz: Uint8Array; meta: TrainedMeta; timings: TrainTimings & { encodeMs: number } }
  | { ok: false; error: { name: string; message: string; stack?: string } };

export type TrainedMeta = Pick<TRecsArtifact, 'version' | 'trainedAt' | 'model' | 'counts'>;

export interface TrainInWorkerResult {
  /** The artifact as stored: gzipped JSON (what saveEncodedArtifact writes). */
  gz: Buffer;
  meta: TrainedMeta;
  timings: TrainTimings & { encodeMs: number };
}

export interface TrainInWorkerOptions {
  /** Aborting terminates the worker (a stop() during training); the promise rejects with an AbortError. */
  signal?: AbortSignal;
  /** V8 heap limits for the worker: a runaway training fails alone instead of taking the process down. */
  resourceLimits?: ResourceLimits;
  /** Sees the thread once started (e.g. to watch its 'exit'); observation only. */
  onWorker?: (worker: Worker) => void;
}

/** Rows per slice while encoding, between which the event loop gets a turn. */
const ENCODE_SLICE = 50_000;

/**
 * Interactions -> typed arrays, dropping tracks that are not in the catalog (trainArtifact would
 * drop them too) and keeping row order (user indices follow first appearance, as buildMatrix's do).
 * Sliced with a yield in between: a million rows must not become one long main-thread task either.
 */
export async function encodeInteractions(interactions: Interaction[], itemIds: string[]): Promise<EncodedRows> {
  const itemIndex = new Map(itemIds.map((id, i) => [id, i]));
  const userIndex = new Map<string, number>();
  const users: string[] = [];
  let user = new Int32Array(interactions.length);
  let item = new Int32Array(interactions.length);
  let weight = new Float64Array(interactions.length);
  let n = 0;
  for (let start = 0; start < interactions.length; start += ENCODE_SLICE) {
    if (start > 0) await yieldToLoop();
    const end = Math.min(interactions.length, start + ENCODE_SLICE);
    for (let k = start; k < end; k++) {
      const r = interactions[k];
      const i = itemIndex.get(r.item);
      if (i === undefined) continue;
      let u = userIndex.get(r.user);
      if (u === undefined) { u = users.length; userIndex.set(r.user, u); users.push(r.user); }
      user[n] = u;
      item[n] = i;
      weight[n] = r.weight;
      n++;
    }
  }
  if (n < interactions.length) { user = user.slice(0, n); item = item.slice(0, n); weight = weight.slice(0, n); }
  return { users, user, item, weight, itemIds };
}

export async function trainInWorker(
  interactions: Interaction[],
  catalog: CatalogTrack[],
  opts: TrainOptions & { minUsersForWorker?: number },
  run: TrainInWorkerOptions = {},
): Promise<TrainInWorkerResult> {
  run.signal?.throwIfAborted();
  const rows = await encodeInteractions(interactions, catalog.map((t) => t.id));
  run.signal?.throwIfAborted();
  const input: TrainWorkerInput = { rows, catalog, opts };
  return new Promise<TrainInWorkerResult>((resolve, reject) => {
    // The .mjs entry registers tsx inside the worker (workers do not inherit --import).
    const w = new Worker(new URL('./train-worker.mjs', import.meta.url), {
      workerData: input,
      // Freshly allocated ArrayBuffers (never shared): moved, not copied.
      transferList: [rows.user.buffer as ArrayBuffer, rows.item.buffer as ArrayBuffer, rows.weight.buffer as ArrayBuffer],
      resourceLimits: run.resourceLimits,
    });
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      run.signal?.removeEventListener('abort', onAbort);
      fn();
    };
    let abortReason: unknown = null;
    const onAbort = () => {
      if (settled) return;
      abortReason = run.signal!.reason ?? new DOMException('training aborted', 'AbortError');
      // Rejected from 'exit' (or right after terminate) so stop() resolving means the thread is gone.
      void w.terminate().finally(() => finish(() => reject(abortReason)));
    };
    run.signal?.addEventListener('abort', onAbort, { once: true });
    run.onWorker?.(w);
    w.once('message', (m: TrainWorkerMessage) => {
      if (m.ok) finish(() => resolve({ gz: Buffer.from(m.gz.buffer, m.gz.byteOffset, m.gz.byteLength), meta: m.meta, timings: m.timings }));
      else {
        const err = new Error(`training worker: ${m.error.message}`);
        err.stack = `${err.stack}\n  worker stack: ${m.error.stack ?? '(none)'}`;
        finish(() => reject(err));
      }
      void w.terminate();
    });
    // Uncaught errors and resource-limit kills (ERR_WORKER_OUT_OF_MEMORY) arrive here.
    w.once('error', (err) => finish(() => reject(abortReason ?? new Error(`training worker failed: ${err.message}`, { cause: err }))));
    w.once('exit', (code) => finish(() => reject(abortReason ?? new Error(`training worker exited with code ${code} before answering`))));
  });
}
