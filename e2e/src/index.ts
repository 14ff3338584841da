/**
 * e2e harness: the whole platform in this process on free ports (startPlatform from @platform/cli, embedded
 * defaults under a temp DATA_DIR), Debian Chromium through playwright-core, and audio synthesized by ffmpeg.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

const run = promisify(execFile);
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const artifactsDir = path.join(repoRoot, 'artifacts', 'e2e');

export const CHROMIUM_PATH = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
];

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) throw new Error(`Chromium not found at ${CHROMIUM_PATH}: install Debian's chromium package (apt-get install chromium).`);
  // chromium.launch gives every run a fresh temporary profile (user-data-dir), removed on close.
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true });
}

export interface TestPlatform {
  webUrl: string;
  edgeUrl: string;
  dataDir: string;
  stop(): Promise<void>;
}

/** Builds the player, then starts every service in-process on free ports with embedded engines. */
export async function startTestPlatform(): Promise<TestPlatform> {
  const { buildPlayerWeb } = await import('@platform/player-web');
  await buildPlayerWeb();
  const { loadConfig } = await import('@platform/config');
  // E2E_PLATFORM_MODULE: another module exporting startPlatform (a development harness); default the real one.
  const { startPlatform } = (process.env.E2E_PLATFORM_MODULE ? await import(process.env.E2E_PLATFORM_MODULE) : await import('@platform/cli')) as typeof import('@platform/cli');
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'e2e-platform-'));
  const config = loadConfig({
    HOST: '127.0.0.1',
    WEB_PORT: '0',
    EDGE_PORT: '0',
    ORIGIN_PORT: '0',
    DATA_DIR: dataDir,
    LOG_LEVEL: process.env.E2E_LOG_LEVEL ?? 'warn',
  });
  const p = await startPlatform(config);
  if (!p.webUrl || !p.edgeUrl) {
    await p.stop();
    throw new Error('startPlatform did not start the web and edge services');
  }
  return {
    webUrl: p.webUrl,
    edgeUrl: p.edgeUrl,
    dataDir,
    async stop() {
      await p.stop();
      await rm(dataDir, { recursive: true, force: true }).catch(() => {});
    },
  };
}

/** A few seconds of music-like stereo audio (two detuned tones + a beat), so loudness and peaks are non-trivial. */
export async function synthesizeAudio(file: string, seconds: number, opts: { freq?: number } = {}): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true });
  const f = opts.freq ?? 220;
  const expr = `0.25*sin(2*PI*${f}*t)+0.15*sin(2*PI*${f * 1.5}*t)*(0.5+0.5*sin(2*PI*2*t))`;
  const ext = path.extname(file).toLowerCase();
  const codec = ext === '.flac' ? ['-c:a', 'flac'] : ['-c:a', 'pcm_s16le'];
  await run('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', `aevalsrc=${expr}|${expr}:s=44100:d=${seconds}`, ...codec, file]);
  return file;
}

export async function synthesizePng(file: string): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true });
  await run('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', 'color=c=orange:s=64x64:d=1', '-frames:v', '1', file]);
  return file;
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(artifactsDir, { recursive: true });
  await page.screenshot({ path: path.join(artifactsDir, `${name}.png`), fullPage: false });
}

/** Collects page errors and failed beacon batches so a test can assert there were none. */
export function watchPage(page: Page): { pageErrors: string[]; beaconProblems: string[] } {
  const out = { pageErrors: [] as string[], beaconProblems: [] as string[] };
  page.on('pageerror', (e) => out.pageErrors.push(String(e)));
  page.on('response', async (res) => {
    if (!res.url().endsWith('/api/beacons')) return;
    if (res.status() !== 202) out.beaconProblems.push(`HTTP ${res.status()}: ${await res.text().catch(() => '')}`);
    else {
      const body = (await res.json().catch(() => ({}))) as { rejected?: number };
      if (body.rejected) out.beaconProblems.push(`${body.rejected} event(s) rejected`);
    }
  });
  return out;
}

export function newContext(browser: Browser, baseURL: string, viewport = { width: 1280, height: 800 }): Promise<BrowserContext> {
  return browser.newContext({ baseURL, viewport });
}

/** What window.__player exposes (player-web/app/player/engine.ts debugHandle). */
export interface PlayerDebug {
  state(): {
    current?: { id: string; title: string };
    isPlaying: boolean;
    positionSec: number;
    durationSec: number;
    family?: string;
    rendition?: { codec: string; bitrateKbps: number };
    lastStartupMs?: number;
    lastGapMs?: number;
    lastStartPreloaded?: boolean;
    quality: string;
    error?: string;
  };
  audio(): HTMLAudioElement;
  beacons(): { type: string; trackId: string; positionMs: number; startupMs?: number }[];
  flush(): Promise<void>;
  audioContextState(): string;
  gainValue(): number;
}
declare global {
  interface Window {
    __player: PlayerDebug;
  }
}

export function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  if (!s.length) return NaN;
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[i];
}
