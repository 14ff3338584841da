/**
 * Bundle budget (CONVENTIONS 10): builds the app into a temp folder and checks gzip sizes.
 * - entry: the JavaScript needed for first paint (index chunk) must stay small;
 * - total: every JS chunk, hls.js (~181 KB gzip) included, must stay under the overall budget.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import os from 'node:os';
import path from 'node:path';
import { buildPlayerWeb } from '../src/index';

const ENTRY_BUDGET_GZIP = 40 * 1024;
const TOTAL_BUDGET_GZIP = 260 * 1024;

test('player bundle stays within its gzip budget', async () => {
  const out = await mkdtemp(path.join(os.tmpdir(), 'player-web-build-'));
  try {
    await buildPlayerWeb({ outDir: out });
    const html = await readFile(path.join(out, 'index.html'), 'utf8');
    const entryMatch = /<script type="module"[^>]*src="\/assets\/([^"]+\.js)"/.exec(html);
    assert.ok(entryMatch, 'index.html references an entry module');
    const files = (await readdir(path.join(out, 'assets'))).filter((f) => f.endsWith('.js'));
    const sizes = new Map<string, number>();
    for (const f of files) sizes.set(f, gzipSync(await readFile(path.join(out, 'assets', f)), { level: 9 }).length);
    const entry = sizes.get(entryMatch[1]) ?? 0;
    const total = [...sizes.values()].reduce((a, b) => a + b, 0);
    console.log(`[bundle] entry ${(entry / 1024).toFixed(1)} KiB gzip (budget ${ENTRY_BUDGET_GZIP / 1024}), total JS ${(total / 1024).toFixed(1)} KiB gzip (budget ${TOTAL_BUDGET_GZIP / 1024})`);
    for (const [f, s] of [...sizes].sort((a, b) => b[1] - a[1])) console.log(`[bundle]   ${f} ${(s / 1024).toFixed(1)} KiB`);
    assert.ok(entry > 1024, 'entry chunk is not empty');
    assert.ok(entry <= ENTRY_BUDGET_GZIP, `entry chunk ${entry} B gzip exceeds ${ENTRY_BUDGET_GZIP} B`);
    assert.ok(total <= TOTAL_BUDGET_GZIP, `all JS ${total} B gzip exceeds ${TOTAL_BUDGET_GZIP} B`);
    // hls.js must stay out of the entry chunk (it is loaded after first paint).
    const entryText = await readFile(path.join(out, 'assets', entryMatch[1]), 'utf8');
    assert.ok(!entryText.includes('hlsManifestParsed'), 'hls.js leaked into the entry chunk');
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
