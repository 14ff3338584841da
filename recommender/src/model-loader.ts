/** Loads a stored model version for serving: I/O here, decoding in a worker thread (compact-model.ts). */
import { Worker } from 'node:worker_threads';
import type { ObjectStore } from '@platform/storage';
import type { CompactModel } from './compact-model';

export async function loadCompactModel(objects: ObjectStore, key: string): Promise<CompactModel | null> {
  const buf = await objects.getBuffer(key);
  if (!buf) return null;
  // A private copy we can transfer (the store's Buffer may be a view into a shared pool).
  const gz = new Uint8Array(buf.byteLength);
  gz.set(buf);
  return new Promise<CompactModel>((resolve, reject) => {
    const w = new Worker(new URL('./model-loader-worker.mjs', import.meta.url), { workerData: gz, transferList: [gz.buffer] });
    let done = false;
    w.once('message', (m: { ok: true; model: CompactModel } | { ok: false; error: string }) => {
      done = true;
      if (m.ok) resolve(m.model);
      else reject(new Error(`model ${key} is not a valid artifact: ${m.error}`));
      void w.terminate();
    });
    w.once('error', (err) => { if (!done) { done = true; reject(new Error(`model loader worker failed: ${err.message}`, { cause: err })); } });
    w.once('exit', (code) => { if (!done) { done = true; reject(new Error(`model loader worker exited with code ${code}`)); } });
  });
}
