/** Worker side of loadCompactModel: bytes in, validated compact model out (typed arrays transferred). */
import { parentPort, workerData } from 'node:worker_threads';
import { decodeCompactModel, transferablesOf } from './compact-model';

try {
  const model = decodeCompactModel(workerData as Uint8Array);
  parentPort!.postMessage({ ok: true, model }, transferablesOf(model));
} catch (e) {
  parentPort!.postMessage({ ok: false, error: (e as Error)?.message ?? String(e) });
}
