/** Worker side of trainInWorker: decode the rows, train exactly as in-thread, encode the artifact. */
import { parentPort, workerData } from 'node:worker_threads';
import { encodeArtifact } from './artifact-store';
import { decodeRows } from './picks-worker-client';
import { trainArtifactParallel } from './train';
import type { TrainWorkerInput, TrainWorkerMessage } from './train-worker-client';

const input = workerData as TrainWorkerInput;
try {
  const { artifact, timings } = await trainArtifactParallel(decodeRows(input.rows), input.catalog, input.opts);
  const t0 = performance.now();
  const buf = encodeArtifact(artifact);
  // A fresh ArrayBuffer of exactly the bytes, so it can be transferred rather than copied.
  const gz = new Uint8Array(buf.byteLength);
  gz.set(buf);
  const { version, trainedAt, model, counts } = artifact;
  const msg: TrainWorkerMessage = { ok: true, gz, meta: { version, trainedAt, model, counts }, timings: { ...timings, encodeMs: performance.now() - t0 } };
  parentPort!.postMessage(msg, [gz.buffer]);
} catch (e) {
  const err = e as Error;
  const msg: TrainWorkerMessage = { ok: false, error: { name: err?.name ?? 'Error', message: err?.message ?? String(e), stack: err?.stack } };
  parentPort!.postMessage(msg);
}
