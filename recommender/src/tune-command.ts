/**
 * `platform recs tune --train FILE`: choose personal picks' settings on a validation split carved
 * from the training file (tuning.ts) and print them as the `TUNED_PICKS` literal that
 * src/tuned-picks.ts commits, with every eval model's validation figures under that choice.
 * It takes no test file: what `recs eval` later reports on test.tsv played no part in the choice.
 */
import { readInteractionsTsv, type EvalResult } from './offline-eval';
import { createEvalModels, type PicksConfig } from './personal-picks';
import { tunePersonalPicks, validateModels, VALIDATION_FRACTION, VALIDATION_SEED, type TuneOptions, type TuneResult } from './tuning';

export interface TuneCommandOptions extends TuneOptions {
  train: string;
  /** Also fit every eval model on the validation split with the chosen settings and report it. */
  report?: boolean;
  onResult?: (r: EvalResult) => void;
}

export async function runTune(opts: TuneCommandOptions): Promise<TuneResult & { report: EvalResult[] }> {
  const rows = await readInteractionsTsv(opts.train);
  const result = tunePersonalPicks(rows, opts);
  const report = opts.report ? validateModels(rows, createEvalModels(result.config), opts.k ?? 20, opts.onResult) : [];
  return { ...result, report };
}

/** The chosen settings as TypeScript, ready to paste into src/tuned-picks.ts. */
export function formatTunedPicks(config: PicksConfig, train: string): string {
  return [
    `// chosen by: npx platform recs tune --train ${train}`,
    `// validation: ${VALIDATION_FRACTION * 100} % of each listener's training rows, seed ${VALIDATION_SEED}`,
    `export const TUNED_PICKS: PicksConfig = ${JSON.stringify(config, null, 2).replace(/"(\w+)":/g, '$1:').replace(/"/g, "'")};`,
  ].join('\n');
}
