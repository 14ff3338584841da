/**
 * Offline evaluation on the real Last.fm split (../shared/datasets/lastfm-hetrec, never shipped):
 * the reference rows of its README are reproduced and personal picks clears Recall@20 0.28.
 * Fails (does not skip) when the dataset is not there.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runOfflineEval } from '../src/eval-command';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dir = path.resolve(repoRoot, '../shared/datasets/lastfm-hetrec');

describe('recs eval on Last.fm (HetRec 2011)', () => {
  it('reproduces the README references and personal picks reaches Recall@20 >= 0.28', async () => {
    assert.ok(existsSync(path.join(dir, 'train.tsv')), `Last.fm split not found at ${dir}: put train.tsv/test.tsv there (see recommender/README.md).`);
    const out = path.join(os.tmpdir(), `recs-lastfm-${process.pid}.tsv`);
    try {
      const results = await runOfflineEval({ train: path.join(dir, 'train.tsv'), test: path.join(dir, 'test.tsv'), out, k: 20 });
      const by = new Map(results.map((r) => [r.model, r]));
      const near = (name: string, recall: number, ndcg: number) => {
        const r = by.get(name);
        assert.ok(r, `no result for ${name}`);
        assert.ok(Math.abs(r.recall - recall) < 0.001 && Math.abs(r.ndcg - ndcg) < 0.001, `${name}: ${r.recall} / ${r.ndcg}, README says ${recall} / ${ndcg}`);
      };
      near('most-popular', 0.037, 0.021);
      near('item-knn (cosine, binary)', 0.266, 0.206);
      near('ease (lambda 200, binary)', 0.257, 0.203);
      const picks = results[results.length - 1];
      assert.match(picks.model, /personal picks/);
      assert.ok(picks.recall >= 0.28, `personal picks Recall@20 ${picks.recall}`);
      assert.ok(picks.ndcg > 0.206, `personal picks NDCG@20 ${picks.ndcg}`);
      assert.equal(picks.users, 1858);
      // The written file: one line per test user, 20 items, none from the user's training rows.
      const train = new Map<string, Set<string>>();
      for (const line of (await readFile(path.join(dir, 'train.tsv'), 'utf8')).split('\n')) {
        const [u, i] = line.split('\t');
        if (u && i) (train.get(u) ?? train.set(u, new Set()).get(u)!).add(i);
      }
      const lines = (await readFile(out, 'utf8')).trim().split('\n');
      assert.equal(lines.length, 1858);
      for (const line of lines) {
        const [user, items] = line.split('\t');
        const list = items.split(',');
        assert.equal(list.length, 20);
        assert.equal(new Set(list).size, 20);
        for (const i of list) assert.ok(!train.get(user)?.has(i), `${user} already has ${i}`);
      }
    } finally {
      await rm(out, { force: true });
    }
  });
});
