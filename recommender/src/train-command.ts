/**
 * `platform recs train`: one training run against the configured stores (env, as everywhere:
 * DATABASE_URL, CLICKHOUSE_URL, S3_* or their embedded defaults under DATA_DIR).
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '@platform/config';
import { createLogger } from '@platform/logging';
import { createDeps } from '@platform/runtime';
import { catalogMigrations } from '@platform/catalog';
import { runTrainingJob } from './train-job';

export async function runTrainCommand(argv: string[]): Promise<number> {
  let days: number | undefined;
  try {
    const { values } = parseArgs({ args: argv, options: { days: { type: 'string' } } });
    if (values.days !== undefined) {
      days = Number(values.days);
      if (!Number.isInteger(days) || days < 1) throw new Error('--days must be a whole number of days (>= 1)');
    }
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\nusage: platform recs train [--days 180]\n`);
    return 2;
  }
  // eslint-disable-next-line no-restricted-properties -- the CLI is a process entry point
  const config = loadConfig(process.env);
  const logger = createLogger({ name: 'recs-train', level: config.LOG_LEVEL });
  // Migrations make a fresh machine work (the job may run before the web process ever did).
  const deps = await createDeps(config, logger, { migrations: catalogMigrations });
  try {
    const r = await runTrainingJob(deps, { days });
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return 0;
  } catch (e) {
    logger.error({ err: e }, 'recs: training failed');
    process.stderr.write(`recs train failed: ${(e as Error).message}\n`);
    return 1;
  } finally {
    await deps.close();
  }
}
