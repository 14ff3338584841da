/** The one vite configuration of the app, shared by buildPlayerWeb(), `vite dev` (vite.config.ts) and the bundle test. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import preact from '@preact/preset-vite';
import type { InlineConfig } from 'vite';

const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function viteConfig(outDir: string): InlineConfig {
  return {
    configFile: false,
    root: path.join(packageRoot, 'app'),
    base: '/',
    plugins: [preact()],
    build: {
      outDir,
      emptyOutDir: true,
      target: 'es2020',
      sourcemap: false,
      // hls.js (~190 KB gzip, the largest piece) and uPlot are dynamic imports: the first paint needs neither.
      chunkSizeWarningLimit: 700,
    },
    server: {
      // `vite dev` proxies the API to a running platform on :8080.
      proxy: { '/api': 'http://127.0.0.1:8080' },
    },
  };
}
