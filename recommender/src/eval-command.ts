/**
 * `platform recs eval`: train every model on one file, write personal picks' top-k per test user to a
 * TSV (`user<TAB>item1,item2,...`, training items excluded), and report Recall@k / NDCG@k per model.
 */
import { writeFile } from 'node:fs/promises';
import { buildMatrix } from './matrix';
import { evaluate, heldOut, readInteractionsTsv, type EvalResult } from './offline-eval';
import { createEvalModels } from './personal-picks';
import type { Recommender } from './models/types';

export interface OfflineEvalOptions {
  train: string;
  test: string;
  out: string;
  k: number;
  models?: Recommender[];
  /** One line per finished model (the CLI prints it as it goes). */
  onResult?: (r: EvalResult) => void;
}

export async function runOfflineEval(opts: OfflineEvalOptions): Promise<EvalResult[]> {
  const train = buildMatrix(await readInteractionsTsv(opts.train));
  const truth = heldOut(train, await readInteractionsTsv(opts.test));
  const models = opts.models ?? createEvalModels();
  const results: EvalResult[] = [];
  let lastLists: Map<string, number[]> = new Map();
  for (const model of models) {
    const { lists, ...r } = evaluate(model, train, truth, opts.k);
    results.push(r);
    opts.onResult?.(r);
    lastLists = lists;
  }
  // The last model is personal picks, the one the API serves.
  const lines: string[] = [];
  for (const [user, items] of lastLists) lines.push(`${user}\t${items.map((i) => train.itemIds[i]).join(',')}`);
  await writeFile(opts.out, lines.join('\n') + '\n');
  return results;
}

export function formatResult(r: EvalResult, k: number): string {
  return `${r.model.padEnd(36)} Recall@${k} ${r.recall.toFixed(4)}  NDCG@${k} ${r.ndcg.toFixed(4)}  users ${r.users}  fit ${(r.fitMs / 1000).toFixed(1)} s`;
}
