/**
 * Model selection uses the training file only. The validation split is a seeded, deterministic
 * partition of the training rows; and the tuner, bundled and run in a Node process whose permission
 * model lets it read nothing but its own bundle and a copy of train.tsv, reproduces the committed
 * blend (src/tuned-picks.ts). The same sandbox is shown to refuse test.tsv, so the check can fail.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { carveValidation, gridOf } from '../src/tuning';
import { TUNED_PICKS } from '../src/tuned-picks';
import { plantedClusters } from '../src/synthetic';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const dir = path.resolve(here, '../../../shared/datasets/lastfm-hetrec');

describe('validation split', () => {
  const { interactions: rows } = plantedClusters({ users: 400, items: 300, clusters: 5, perUser: 20, purity: 0.8, seed: 3 });

  it('is a seeded partition of the training rows, about 20 % held out, every listener keeps a row', () => {
    const a = carveValidation(rows);
    const b = carveValidation(rows);
    assert.deepEqual(a, b, 'same rows and seed give the same split');
    assert.notDeepEqual(carveValidation(rows, 0.2, 1).holdout, a.holdout, 'another seed gives another split');
    assert.equal(a.fit.length + a.holdout.length, rows.length);
    const key = (r: { user: string; item: string; weight: number }) => `${r.user}\t${r.item}\t${r.weight}`;
    assert.deepEqual([...a.fit, ...a.holdout].map(key).sort(), rows.map(key).sort());
    const share = a.holdout.length / rows.length;
    assert.ok(share > 0.18 && share < 0.22, `held out ${share}`);
    const users = new Set(rows.map((r) => r.user));
    assert.deepEqual(new Set(a.fit.map((r) => r.user)), users);
  });

  it('never empties a listener, even one with a single row', () => {
    const one = [{ user: 'solo', item: 'x', weight: 3 }];
    for (let seed = 0; seed < 50; seed++) assert.deepEqual(carveValidation(one, 0.9, seed).fit, one);
  });
});

describe('recs tune on Last.fm reads the training file only', () => {
  it('reproduces the committed blend in a sandbox that can read train.tsv and nothing else', async () => {
    assert.ok(existsSync(path.join(dir, 'train.tsv')), `Last.fm split not found at ${dir}: put train.tsv/test.tsv there (see recommender/README.md).`);
    const work = await mkdtemp(path.join(os.tmpdir(), 'recs-tune-'));
    try {
      const train = path.join(work, 'train.tsv');
      await copyFile(path.join(dir, 'train.tsv'), train);
      // One self-contained file: the sandbox may not even read node_modules or the repo.
      const entry = path.join(work, 'entry.ts');
      await writeFile(entry, [
        `import { runTune } from ${JSON.stringify(path.resolve(here, '../src/tune-command.ts'))};`,
        `const [mode, file, grid] = process.argv.slice(2);`,
        `if (mode === 'read') { const { readFile } = await import('node:fs/promises'); await readFile(file); process.stdout.write('read ok'); }`,
        `else { const r = await runTune({ train: file, grid: JSON.parse(grid) }); process.stdout.write(JSON.stringify(r.config)); }`,
      ].join('\n'));
      const bundle = path.join(work, 'tune.mjs');
      await build({ entryPoints: [entry], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: bundle, logLevel: 'silent' });
      const sandbox = (args: string[]) => run(process.execPath, ['--experimental-permission', `--allow-fs-read=${bundle}`, `--allow-fs-read=${train}`, bundle, ...args], { maxBuffer: 1 << 20, env: { ...process.env, NODE_OPTIONS: '' } });

      // The sandbox is real: the test file is out of reach.
      await assert.rejects(sandbox(['read', path.join(dir, 'test.tsv')]), (e: Error & { stderr?: string }) => /ERR_ACCESS_DENIED/.test(e.stderr ?? ''));
      assert.equal((await sandbox(['read', train])).stdout, 'read ok');

      const { stdout } = await sandbox(['tune', train, JSON.stringify(gridOf(TUNED_PICKS))]);
      assert.deepEqual(JSON.parse(stdout), JSON.parse(JSON.stringify(TUNED_PICKS)), 'tuning on train.tsv alone gives the settings src/tuned-picks.ts commits');
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
