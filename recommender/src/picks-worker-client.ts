/** Runs computePicks for a user range in a worker thread (see trainArtifactParallel). */
import { Worker } from 'node:worker_threads';
import type { TRecsList } from '@platform/models';
import type { Interaction } from './matrix';

export interface EncodedRows {
  users: string[];
  user: Int32Array;
  item: Int32Array;
  weight: Float64Array;
  itemIds: string[];
}

export interface PicksWorkerInput {
  rows: EncodedRows;
  published: boolean[];
  from: number;
  to: number;
  picksPerUser: number;
}

/** Compact, order-preserving encoding (the worker must rebuild the identical matrix). */
export function encodeRows(rows: Interaction[], itemIds: string[]): EncodedRows {
  const itemIndex = new Map(itemIds.map((id, i) => [id, i]));
  const userIndex = new Map<string, number>();
  const users: string[] = [];
  const user = new Int32Array(rows.length);
  const item = new Int32Array(rows.length);
  const weight = new Float64Array(rows.length);
  rows.forEach((r, k) => {
    let u = userIndex.get(r.user);
    if (u === undefined) { u = users.length; userIndex.set(r.user, u); users.push(r.user); }
    user[k] = u;
    item[k] = itemIndex.get(r.item)!;
    weight[k] = r.weight;
  });
  return { users, user, item, weight, itemIds };
}

export function decodeRows(e: EncodedRows): Interaction[] {
  const out: Interaction[] = new Array(e.user.length);
  for (let k = 0; k < e.user.length; k++) out[k] = { user: e.users[e.user[k]], item: e.itemIds[e.item[k]], weight: e.weight[k] };
  return out;
}

export function runPicksWorker(input: PicksWorkerInput): Promise<Record<string, TRecsList>> {
  return new Promise((resolve, reject) => {
    // The .mjs entry registers tsx inside the worker (workers do not inherit --import).
    const w = new Worker(new URL('./picks-worker.mjs', import.meta.url), { workerData: input });
    w.once('message', (m: { users?: Record<string, TRecsList>; error?: string }) => {
      void w.terminate();
      if (m.error) reject(new Error(`picks worker: ${m.error}`));
      else resolve(m.users ?? {});
    });
    w.once('error', reject);
    w.once('exit', (code) => { if (code !== 0) reject(new Error(`picks worker exited with ${code}`)); });
  });
}
