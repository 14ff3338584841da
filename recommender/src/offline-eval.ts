/**
 * Offline evaluation on `user<TAB>item<TAB>weight` files: train on one, rank for the users of the
 * other with their training items excluded, and score the ranking with Recall@k / NDCG@k.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { buildMatrix, type Interaction, type InteractionMatrix } from './matrix';
import { ndcgAtK, recallAtK } from './metrics';
import { topK } from './topk';
import { historyOf, type Recommender } from './models/types';

export async function readInteractionsTsv(file: string): Promise<Interaction[]> {
  const rows: Interaction[] = [];
  const rl = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  let line = 0;
  for await (const text of rl) {
    line++;
    if (!text.trim() || text.startsWith('#')) continue;
    const [user, item, w] = text.split('\t');
    const weight = w === undefined || w === '' ? 1 : Number(w);
    if (!user || !item || !Number.isFinite(weight)) throw new Error(`${file}:${line}: expected user<TAB>item<TAB>weight, got "${text.slice(0, 80)}"`);
    rows.push({ user, item, weight });
  }
  return rows;
}

/** Held-out items per user, as train item indices; items unknown to train get negative ids (still count as misses). */
export function heldOut(train: InteractionMatrix, test: Iterable<Interaction>): Map<string, Set<number>> {
  const out = new Map<string, Set<number>>();
  const unknown = new Map<string, number>();
  for (const r of test) {
    let i = train.itemIndex.get(r.item);
    if (i === undefined) {
      i = unknown.get(r.item);
      if (i === undefined) { i = -1 - unknown.size; unknown.set(r.item, i); }
    }
    let s = out.get(r.user);
    if (!s) { s = new Set(); out.set(r.user, s); }
    s.add(i);
  }
  return out;
}

export interface EvalResult {
  model: string;
  recall: number;
  ndcg: number;
  users: number;
  fitMs: number;
}

/** Rank for every held-out user; users without training history are ranked from an empty history. */
export function rankAll(model: Recommender, train: InteractionMatrix, users: Iterable<string>, k: number): Map<string, number[]> {
  const lists = new Map<string, number[]>();
  const empty = { items: new Int32Array(0), values: new Float64Array(0) };
  for (const user of users) {
    const u = train.userIndex.get(user);
    const h = u === undefined ? empty : historyOf(train, u);
    const seen = new Set(h.items);
    const scores = model.score(h);
    lists.set(user, topK(scores, k, (i) => seen.has(i)).map((s) => s.item));
  }
  return lists;
}

export function scoreLists(lists: Map<string, number[]>, truth: Map<string, Set<number>>, k: number): { recall: number; ndcg: number; users: number } {
  let recall = 0, ndcg = 0, users = 0;
  for (const [user, rel] of truth) {
    const ranked = lists.get(user) ?? [];
    recall += recallAtK(ranked, rel, k);
    ndcg += ndcgAtK(ranked, rel, k);
    users++;
  }
  return { recall: users ? recall / users : 0, ndcg: users ? ndcg / users : 0, users };
}

export function evaluate(model: Recommender, train: InteractionMatrix, truth: Map<string, Set<number>>, k: number): EvalResult & { lists: Map<string, number[]> } {
  const t0 = performance.now();
  model.fit(train);
  const fitMs = performance.now() - t0;
  const lists = rankAll(model, train, truth.keys(), k);
  return { model: model.name, ...scoreLists(lists, truth, k), fitMs, lists };
}

export { buildMatrix };
