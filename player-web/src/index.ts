/**
 * Server-side entry of player-web (no DOM): where the built single-page app lives and how to build it.
 * The web server on :8080 serves `playerWebRoot()` with an SPA fallback to index.html; `npm start` and the
 * tests call `buildPlayerWeb()` when the folder is missing (`isPlayerWebBuilt()`).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const packageRoot = path.resolve(here, '..');

/** Absolute path of the built app (index.html + hashed assets). */
export function playerWebRoot(): string {
  return path.join(packageRoot, 'dist');
}

/** True when dist/index.html exists. */
export function isPlayerWebBuilt(): boolean {
  return existsSync(path.join(playerWebRoot(), 'index.html'));
}

export interface BuildPlayerWebOptions {
  /** Output folder; defaults to playerWebRoot(). Tests build elsewhere so they never race the served copy. */
  outDir?: string;
  /** Print vite's report (default false: quiet inside `npm start`). */
  verbose?: boolean;
}

/** Runs the production vite build of app/ into dist/ (or opts.outDir). */
export async function buildPlayerWeb(opts: BuildPlayerWebOptions = {}): Promise<void> {
  const { build } = await import('vite');
  const { viteConfig } = await import('./vite-config');
  await build({ ...viteConfig(opts.outDir ?? playerWebRoot()), logLevel: opts.verbose ? 'info' : 'warn' });
}

/** Builds only when dist is missing; returns the served root. */
export async function ensurePlayerWebBuilt(): Promise<string> {
  if (!isPlayerWebBuilt()) await buildPlayerWeb();
  return playerWebRoot();
}
