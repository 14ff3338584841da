/** Worker side of trainArtifactParallel: rebuild the matrix, fit the same model, rank a user range. */
import { parentPort, workerData } from 'node:worker_threads';
import { buildMatrix } from './matrix';
import { createPersonalPicks } from './personal-picks';
import { computePicks } from './train';
import { decodeRows, type PicksWorkerInput } from './picks-worker-client';

const input = workerData as PicksWorkerInput;
try {
  const m = buildMatrix(decodeRows(input.rows), { itemIds: input.rows.itemIds });
  const { model, itemKnn } = createPersonalPicks(m.nUsers, m.nItems);
  model.fit(m);
  parentPort!.postMessage({ users: computePicks(m, model, itemKnn, input.published, input.from, input.to, input.picksPerUser) });
} catch (e) {
  parentPort!.postMessage({ error: (e as Error).message });
}
