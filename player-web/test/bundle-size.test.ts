/**
 * Bundle budget (CONVENTIONS 10): builds the app into a temp folder and checks gzip sizes.
 * - entry: the JavaScript needed for first paint (index chunk) must stay small;
 * - total: every JS chunk on the default path, hls.js (~175 KB gzip) included, must stay under the overall budget;
 * - dash.js (~230 KB gzip) is an opt-in engine (playback settings -> Streaming: DASH), a dynamic import that the
 *   default path never fetches: it has its own budget and must stay out of the entry chunk and its preloads.
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
const DASH_BUDGET_GZIP = 240 * 1024;
/** Rollup names a chunk after its module: dashjs's `dash.all.min.js` becomes `dash.all.min-<hash>.js`. */
const isDashChunk = (file: string) => /^dash\./.test(file);

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
    const total = [...sizes].filter(([f]) => !isDashChunk(f)).reduce((a, [, b]) => a + b, 0);
    const dash = [...sizes].filter(([f]) => isDashChunk(f)).reduce((a, [, b]) => a + b, 0);
    console.log(
      `[bundle] entry ${(entry / 1024).toFixed(1)} KiB gzip (budget ${ENTRY_BUDGET_GZIP / 1024}), default-path JS ${(total / 1024).toFixed(1)} KiB gzip (budget ${TOTAL_BUDGET_GZIP / 1024}), ` +
        `opt-in DASH engine ${(dash / 1024).toFixed(1)} KiB gzip (budget ${DASH_BUDGET_GZIP / 1024})`,
    );
    for (const [f, s] of [...sizes].sort((a, b) => b[1] - a[1])) console.log(`[bundle]   ${f} ${(s / 1024).toFixed(1)} KiB`);
    assert.ok(entry > 1024, 'entry chunk is not empty');
    assert.ok(entry <= ENTRY_BUDGET_GZIP, `entry chunk ${entry} B gzip exceeds ${ENTRY_BUDGET_GZIP} B`);
    assert.ok(total <= TOTAL_BUDGET_GZIP, `default-path JS ${total} B gzip exceeds ${TOTAL_BUDGET_GZIP} B`);
    assert.ok(dash > 0, 'the DASH engine is its own chunk');
    assert.ok(dash <= DASH_BUDGET_GZIP, `DASH engine ${dash} B gzip exceeds ${DASH_BUDGET_GZIP} B`);
    // Lazy: neither a static import of the entry nor a <link rel=modulepreload> in the page.
    assert.ok(![...sizes.keys()].some((f) => isDashChunk(f) && html.includes(f)), 'dash.js is preloaded by index.html');
    // hls.js must stay out of the entry chunk (it is loaded after first paint).
    const entryText = await readFile(path.join(out, 'assets', entryMatch[1]), 'utf8');
    assert.ok(!entryText.includes('hlsManifestParsed'), 'hls.js leaked into the entry chunk');
    assert.ok(!entryText.includes('qualityChangeRendered'), 'dash.js leaked into the entry chunk');
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
