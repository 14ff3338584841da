/**
 * `platform recs ...`: recommendation training (`recs train`, the scheduled job), offline
 * evaluation (`recs eval --train FILE --test FILE --out RECS.tsv [--k 20]`) and model selection on
 * a validation split of the training file only (`recs tune --train FILE`). The work lives in
 * @platform/recommender; this file only parses arguments and prints.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';

const ZEvalArgs = z.object({
  train: z.string({ message: 'pass --train FILE (user<TAB>item<TAB>weight lines)' }).min(1, 'pass --train FILE'),
  test: z.string({ message: 'pass --test FILE (user<TAB>item<TAB>weight lines)' }).min(1, 'pass --test FILE'),
  out: z.string({ message: 'pass --out RECS.tsv (where the top-k lists go)' }).min(1, 'pass --out RECS.tsv'),
  k: z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1').max(1000, 'must be at most 1000').default(20),
});

const ZTuneArgs = z.object({
  train: ZEvalArgs.shape.train,
  k: ZEvalArgs.shape.k,
});

const USAGE = `usage:
  platform recs eval --train FILE --test FILE --out RECS.tsv [--k 20]
  platform recs tune --train FILE [--k 20]
  platform recs train [--days 180]`;

/**
 * `--name value` flags named by the schema's keys, checked by it; on a mistake the reasons and the usage
 * go to stderr and the answer is null (the caller exits 2).
 */
function parseFlags<S extends z.ZodObject>(argv: string[], schema: S): z.infer<S> | null {
  const options = Object.fromEntries(Object.keys(schema.shape).map((name) => [name, { type: 'string' as const }]));
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args: argv, options }));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
    return null;
  }
  const parsed = schema.safeParse(values);
  if (parsed.success) return parsed.data;
  process.stderr.write(`${parsed.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('\n')}\n${USAGE}\n`);
  return null;
}

export async function runRecsCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'eval') return runEval(rest);
  if (sub === 'train') return runTrain(rest);
  if (sub === 'tune') return runTuneCli(rest);
  process.stderr.write(`${USAGE}\n`);
  return sub === undefined || sub === '--help' || sub === '-h' ? 0 : 2;
}

async function runEval(argv: string[]): Promise<number> {
  const args = parseFlags(argv, ZEvalArgs);
  if (!args) return 2;
  const { runOfflineEval, formatResult } = await import('@platform/recommender/eval');
  const { k } = args;
  try {
    await runOfflineEval({ ...args, onResult: (r) => process.stdout.write(`${formatResult(r, k)}\n`) });
  } catch (e) {
    process.stderr.write(`recs eval failed: ${(e as Error).message}\n`);
    return 1;
  }
  process.stdout.write(`personal picks top-${k} per test user written to ${args.out}\n`);
  return 0;
}

/** Model selection on the training file alone; prints the settings src/tuned-picks.ts commits. */
async function runTuneCli(argv: string[]): Promise<number> {
  const args = parseFlags(argv, ZTuneArgs);
  if (!args) return 2;
  const { runTune, formatTunedPicks } = await import('@platform/recommender/tune');
  const { formatResult } = await import('@platform/recommender/eval');
  const { train, k } = args;
  try {
    process.stdout.write('validation split of the training file; each candidate:\n');
    const r = await runTune({ train, k, report: true, onProgress: (l) => process.stdout.write(`${l}\n`), onResult: (res) => process.stdout.write(`validation ${formatResult(res, k)}\n`) });
    process.stdout.write(`\n${formatTunedPicks(r.config, train)}\n`);
    process.stdout.write(`tuned in ${(r.ms / 1000).toFixed(0)} s on ${r.validation.fitRows} rows, validated on ${r.validation.heldOutRows} held-out rows of ${r.validation.users} listeners\n`);
  } catch (e) {
    process.stderr.write(`recs tune failed: ${(e as Error).message}\n`);
    return 1;
  }
  return 0;
}

async function runTrain(argv: string[]): Promise<number> {
  const { runTrainCommand } = await import('@platform/recommender/train');
  return runTrainCommand(argv);
}
