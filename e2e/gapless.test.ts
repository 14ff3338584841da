/**
 * Gapless album playback, measured on the audio itself (issue 7) in Debian Chromium against the whole platform.
 *
 * One 441 Hz sine is synthesized and cut in two WAV files at a sample boundary, so the two album tracks form one
 * continuous sine across the join. Both are uploaded, packaged (Opus/AAC with encoder priming and padding, FLAC
 * without) and played as an album. What the listener hears is tapped after each deck's gain node (an AudioWorklet
 * recording the mixed output) from shortly before the join to after it, and analysed:
 * - dropout: the longest run where the sine's instantaneous amplitude falls under half its level (silence between
 *   elements, encoder priming or padding played as near-silence);
 * - click: the largest jump of the sine recurrence x[n+1] - 2cos(w)x[n] + x[n-1] relative to the amplitude
 *   (a phase jump: samples dropped or repeated at the join).
 * Both are printed; the assertions are on the audio content, never on wall-clock times.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchBrowser, newContext, screenshot, startTestPlatform, type TestPlatform } from './src/index';

const run = promisify(execFile);
const SINE_HZ = 441;
const RATE = 44100;
/** Track A is 8 s, track B 6 s: one sine of 14 s cut at sample 352800 (a whole number of periods). */
const SPLIT_SAMPLES = 8 * RATE;
const TOTAL_SAMPLES = 14 * RATE;
const ALBUM = `Gapless ${Date.now().toString(36)}`;
/** A join with no gap beyond the audio's own: no sub-half-amplitude run longer than this (ms). */
const MAX_DROPOUT_MS = 1;
/** Largest tolerated recurrence residual relative to the amplitude (a hard cut or 1-sample slip is far above). */
const MAX_CLICK = 0.25;

interface GaplessDebug {
  state(): { current?: { id: string }; positionSec: number; durationSec: number; quality: string; family?: string; lastGapMs?: number; lastStartupMs?: number };
  audioGraph(): { ctx?: AudioContext; outputs: AudioNode[] };
  seek(sec: number): void;
}
type Win = Window & { __player: GaplessDebug; __tap?: { chunks: Float32Array[]; recording: boolean; rate: number } };

let platform: TestPlatform;
let browser: Browser;
let ctx: BrowserContext;
let page: Page;
let workDir: string;
let albumId: string | undefined;
/** Later steps fail at once, naming the missing step, instead of timing out. */
let isAlbumReady = false;
const trackIds: string[] = [];

async function synthesizeHalves(dir: string): Promise<[string, string]> {
  const a = path.join(dir, 'part-a.wav');
  const b = path.join(dir, 'part-b.wav');
  const src = `aevalsrc=0.5*sin(2*PI*${SINE_HZ}*t)|0.5*sin(2*PI*${SINE_HZ}*t):s=${RATE}:d=${TOTAL_SAMPLES / RATE}`;
  await run('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', src, '-af', `atrim=end_sample=${SPLIT_SAMPLES}`, '-c:a', 'pcm_s16le', a]);
  await run('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', src, '-af', `atrim=start_sample=${SPLIT_SAMPLES},asetpts=N/SR/TB`, '-c:a', 'pcm_s16le', b]);
  return [a, b];
}

async function csrf(): Promise<string> {
  const c = (await ctx.cookies()).find((x) => x.name === 'csrf');
  assert.ok(c, 'the session has a csrf cookie');
  return c.value;
}

async function upload(file: string, title: string): Promise<string> {
  const res = await page.request.post('/api/tracks', {
    headers: { 'x-csrf-token': await csrf() },
    multipart: { file: { name: path.basename(file), mimeType: 'audio/wav', buffer: await readFile(file) }, title, album: ALBUM, artist: 'Gapless Tester' },
  });
  assert.equal(res.status(), 202, `upload of ${title}: ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

async function waitReady(id: string): Promise<void> {
  const deadline = Date.now() + 4 * 60_000;
  for (;;) {
    const t = (await (await page.request.get(`/api/tracks/${id}`)).json()) as { status: string; error?: { detail: string }; albumId?: string };
    if (t.status === 'ready') {
      albumId ??= t.albumId;
      return;
    }
    assert.notEqual(t.status, 'failed', `track ${id} failed: ${t.error?.detail}`);
    assert.ok(Date.now() < deadline, `track ${id} not ready after 4 minutes`);
    await page.waitForTimeout(500);
  }
}

/** Records the mixed output of every deck (channel 0) into window.__tap while __tap.recording is true. */
async function installTap(): Promise<void> {
  await page.evaluate(async () => {
    const w = window as unknown as Win;
    const { ctx: ac, outputs } = w.__player.audioGraph();
    if (!ac) throw new Error('no AudioContext: the player did not start Web Audio');
    const code = `class Tap extends AudioWorkletProcessor {
      constructor() { super(); this.on = false; this.port.onmessage = (e) => { this.on = e.data; }; }
      process(inputs) { const ch = inputs[0] && inputs[0][0]; if (this.on) this.port.postMessage(ch ? ch.slice() : new Float32Array(128)); return true; }
    }
    registerProcessor('gapless-tap', Tap);`;
    await ac.audioWorklet.addModule(URL.createObjectURL(new Blob([code], { type: 'text/javascript' })));
    const node = new AudioWorkletNode(ac, 'gapless-tap', { numberOfInputs: 1, numberOfOutputs: 1, channelCount: 1, channelCountMode: 'explicit' });
    for (const o of outputs) o.connect(node);
    // Pulled by the graph: connect through a silent gain to the destination.
    const mute = ac.createGain();
    mute.gain.value = 0;
    node.connect(mute).connect(ac.destination);
    const tap = { chunks: [] as Float32Array[], recording: false, rate: ac.sampleRate };
    node.port.onmessage = (e: MessageEvent<Float32Array>) => tap.chunks.push(e.data);
    w.__tap = tap;
    (w as unknown as { __tapNode: AudioWorkletNode }).__tapNode = node;
  });
}

async function setRecording(on: boolean): Promise<void> {
  await page.evaluate((v) => {
    const w = window as unknown as Win & { __tapNode: AudioWorkletNode };
    if (v) w.__tap!.chunks = [];
    w.__tapNode.port.postMessage(v);
  }, on);
}

interface JoinAnalysis {
  rate: number;
  samples: number;
  amplitude: number;
  dropoutMs: number;
  dropoutAtMs: number;
  click: number;
  clickAtMs: number;
}

/** Runs in the page: envelope dropout and recurrence click over the recording (see the header). */
async function analyse(): Promise<JoinAnalysis> {
  return page.evaluate((hz) => {
    const w = window as unknown as Win;
    const tap = w.__tap!;
    const n = tap.chunks.reduce((s, c) => s + c.length, 0);
    const x = new Float32Array(n);
    let o = 0;
    for (const c of tap.chunks) {
      x.set(c, o);
      o += c.length;
    }
    const om = (2 * Math.PI * hz) / tap.rate;
    const c2 = 2 * Math.cos(om);
    const s = Math.sin(om);
    // Skip the recording's first and last 50 ms (the tap may start mid-quantum).
    const edge = Math.round(tap.rate * 0.05);
    const env = new Float32Array(n);
    for (let i = 1; i < n - 1; i++) {
      const d = (x[i + 1] - x[i - 1]) / (2 * s);
      env[i] = Math.sqrt(x[i] * x[i] + d * d);
    }
    const sorted = Array.from(env.subarray(edge, n - edge)).sort((a, b) => a - b);
    const amplitude = sorted[Math.floor(sorted.length / 2)] ?? 0;
    let run = 0;
    let best = 0;
    let bestEnd = 0;
    let click = 0;
    let clickAt = 0;
    for (let i = edge; i < n - edge; i++) {
      if (env[i] < amplitude / 2) {
        run++;
        if (run > best) {
          best = run;
          bestEnd = i;
        }
      } else run = 0;
      const r = Math.abs(x[i + 1] - c2 * x[i] + x[i - 1]) / Math.max(1e-9, amplitude);
      if (r > click) {
        click = r;
        clickAt = i;
      }
    }
    return {
      rate: tap.rate,
      samples: n,
      amplitude,
      dropoutMs: (best / tap.rate) * 1000,
      dropoutAtMs: ((bestEnd - best) / tap.rate) * 1000,
      click,
      clickAtMs: (clickAt / tap.rate) * 1000,
    };
  }, SINE_HZ);
}

interface JoinCase {
  name: string;
  family: string;
  /** player.settings.v1 in localStorage before the app starts */
  settings: Record<string, unknown>;
  /** Hide Opus from MediaSource.isTypeSupported (a browser without Opus in MP4, e.g. Safari before 17): Auto picks AAC. */
  hideOpus?: boolean;
}

const CASES: JoinCase[] = [
  { name: 'Opus (Auto in Chromium): 312-sample pre-skip, 648-sample padding', family: 'opus', settings: { quality: 'auto', normalize: true } },
  { name: 'AAC-LC (Auto without Opus): 1024-sample priming, 344-sample padding', family: 'aac', settings: { quality: 'auto', normalize: true }, hideOpus: true },
  { name: 'FLAC (Lossless): no priming, short last block', family: 'flac', settings: { quality: 'lossless', normalize: false } },
];

/** A fresh signed-out listener page with the given player settings. */
async function listenerPage(c: Pick<JoinCase, 'settings' | 'hideOpus'>): Promise<{ context: BrowserContext; page: Page }> {
  const context = await newContext(browser, platform.webUrl);
  await context.addInitScript(
    ({ settings, hideOpus }) => {
      localStorage.setItem('player.settings.v1', JSON.stringify(settings));
      if (hideOpus) {
        const original = MediaSource.isTypeSupported.bind(MediaSource);
        MediaSource.isTypeSupported = (type: string) => (/opus/i.test(type) ? false : original(type));
      }
    },
    { settings: c.settings, hideOpus: !!c.hideOpus },
  );
  const p = await context.newPage();
  if (process.env.E2E_DEBUG) p.on('console', (m) => console.log('[debug] console', m.type(), m.text()));
  return { context, page: p };
}

describe('gapless album playback (audio content measured)', { timeout: 12 * 60_000 }, () => {
  before(async () => {
    workDir = await mkdtemp(path.join(os.tmpdir(), 'e2e-gapless-'));
    platform = await startTestPlatform();
    browser = await launchBrowser();
    ctx = await newContext(browser, platform.webUrl);
    page = await ctx.newPage();
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await platform?.stop();
    await rm(workDir, { recursive: true, force: true }).catch(() => {});
  });

  test('a musician uploads two halves of one sine as an album', async () => {
    const [a, b] = await synthesizeHalves(workDir);
    await page.goto('/');
    const signup = await page.request.post('/api/auth/signup', {
      data: { email: `gapless-${Date.now().toString(36)}@example.com`, password: 'correct horse battery staple', displayName: 'Gapless Tester', role: 'musician' },
    });
    assert.equal(signup.status(), 201, await signup.text());
    // Sequential submissions: the album orders tracks by creation.
    trackIds.push(await upload(a, 'Sine Part A'));
    trackIds.push(await upload(b, 'Sine Part B'));
    for (const id of trackIds) await waitReady(id);
    assert.ok(albumId, 'the tracks got an album id');
    isAlbumReady = true;
  });

  for (const c of CASES) {
    test(`${c.name}: the join has no dropout and no click`, async () => {
      assert.ok(isAlbumReady, 'prerequisite step "a musician uploads two halves of one sine as an album" did not pass');
      const { context, page: p } = await listenerPage(c);
      page = p;
      try {
        await page.goto(`/album/${albumId}`);
        await page.getByTestId('play-album').click();
        await page.waitForFunction(() => (window as unknown as Win).__player.state().positionSec > 0.3, null, { timeout: 30_000 });
        const first = await page.evaluate(() => (window as unknown as Win).__player.state());
        const startupMs = first.lastStartupMs;
        assert.equal(first.current?.id, trackIds[0], 'the album starts with part A');
        assert.equal(first.family, c.family, `plays the ${c.family} family`);
        await installTap();
        // 2.5 s before the join (the chain has the next track buffered by then).
        await page.evaluate(() => {
          const pl = (window as unknown as Win).__player;
          pl.seek(pl.state().durationSec - 2.5);
        });
        await page.waitForFunction(() => (window as unknown as Win).__player.state().positionSec > 5.6, null, { timeout: 15_000 });
        await setRecording(true);
        await page.waitForFunction(
          (id) => {
            const s = (window as unknown as Win).__player.state();
            return s.current?.id === id && s.positionSec > 1.2;
          },
          trackIds[1],
          { timeout: 30_000 },
        );
        await setRecording(false);
        const st = await page.evaluate(() => (window as unknown as Win).__player.state());
        const m = await analyse();
        console.log(
          `[e2e] gapless join, ${c.family}: dropout ${m.dropoutMs.toFixed(2)} ms (at ${m.dropoutAtMs.toFixed(0)} ms of ${((m.samples / m.rate) * 1000).toFixed(0)} ms recorded), ` +
            `click ${m.click.toFixed(3)} x amplitude (at ${m.clickAtMs.toFixed(0)} ms), amplitude ${m.amplitude.toFixed(3)}, output ${m.rate} Hz; player's ended->playing gap ${st.lastGapMs ?? 'n/a'} ms; album start (click -> playing, cold edge) ${startupMs ?? '?'} ms`,
        );
        await screenshot(page, `gapless-album-${c.family}`);
        assert.equal(await page.evaluate(() => (window as unknown as { __player: { audio(): HTMLAudioElement } }).__player.audio().error?.code ?? null), null, 'no MediaError');
        assert.ok(m.samples / m.rate > 1.5, `enough audio recorded (${m.samples} samples)`);
        assert.ok(m.amplitude > 0.05, `the sine was heard (amplitude ${m.amplitude})`);
        assert.ok(m.dropoutMs < MAX_DROPOUT_MS, `no dropout at the join: ${m.dropoutMs.toFixed(2)} ms under half amplitude (bound ${MAX_DROPOUT_MS} ms)`);
        assert.ok(m.click < MAX_CLICK, `no click at the join: residual ${m.click.toFixed(3)} x amplitude (bound ${MAX_CLICK})`);
      } finally {
        await context.close();
      }
    });
  }

  test('album start on the gapless chain, warm edge (printed); a switch to lossless keeps the chain playing', async () => {
    assert.ok(isAlbumReady, 'prerequisite step "a musician uploads two halves of one sine as an album" did not pass');
    const { context, page: p } = await listenerPage({ settings: { quality: 'auto' } });
    try {
      await p.goto(`/album/${albumId}`);
      const samples: number[] = [];
      for (let i = 0; i < 9; i++) {
        const before = await p.evaluate(() => (window as unknown as { __player: { beacons(): { type: string }[] } }).__player.beacons().filter((b) => b.type === 'first_audio').length);
        await p.getByTestId('play-album').click();
        await p.waitForFunction((n) => (window as unknown as { __player: { beacons(): { type: string }[] } }).__player.beacons().filter((b) => b.type === 'first_audio').length > n, before, { timeout: 30_000 });
        const ms = await p.evaluate(() => (window as unknown as { __player: { beacons(): { type: string; startupMs?: number }[] } }).__player.beacons().filter((b) => b.type === 'first_audio').at(-1)?.startupMs ?? -1);
        assert.equal(await p.evaluate(() => (window as unknown as { __player: { mode(): string } }).__player.mode()), 'chain', 'album plays start on the chain');
        if (i > 0) samples.push(ms); // the first warms the edge
        await p.getByTestId('play-pause').click();
        await p.waitForTimeout(200);
      }
      samples.sort((a, b) => a - b);
      console.log(`[e2e] album start on the chain (click -> playing, warm edge) over ${samples.length} plays: p50 ${samples[Math.floor(samples.length / 2)]} ms, min ${samples[0]} ms, max ${samples.at(-1)} ms`);
      assert.ok(samples.every((x) => x >= 0));
      // Quality across families on the chain reloads it at the same point; it keeps playing and chaining.
      type P = { __player: { state(): { family?: string; positionSec: number; current?: { id: string } }; mode(): string; audio(): HTMLAudioElement } };
      await p.getByTestId('play-album').click();
      await p.waitForFunction(() => (window as unknown as P).__player.state().positionSec > 1, null, { timeout: 30_000 });
      await p.getByTestId('settings-toggle').click();
      await p.getByTestId('quality-select').selectOption('lossless');
      await p.waitForFunction(() => {
        const w = (window as unknown as P).__player;
        return w.state().family === 'flac' && w.mode() === 'chain' && !w.audio().paused && w.state().positionSec > 2;
      }, null, { timeout: 30_000 });
      const at = await p.evaluate(() => (window as unknown as P).__player.state());
      assert.equal(at.current?.id, trackIds[0], 'still the first track after the switch');
      await p.waitForFunction((t) => (window as unknown as P).__player.state().positionSec > t + 0.5, at.positionSec, { timeout: 15_000 });
      assert.equal(await p.evaluate(() => (window as unknown as P).__player.audio().error?.code ?? null), null, 'no MediaError after the switch');
    } finally {
      await context.close();
    }
  });

  test('DASH engine (dash.js, lazily loaded) plays through the edge with the grant', async () => {
    assert.ok(isAlbumReady, 'prerequisite step "a musician uploads two halves of one sine as an album" did not pass');
    const { context, page: p } = await listenerPage({ settings: {} });
    try {
      const dashRequests: { url: string; status: number }[] = [];
      p.on('response', (r) => {
        if (r.url().startsWith(platform.edgeUrl) && /\.(mpd|m4s|mp4)(\?|$)/.test(r.url())) dashRequests.push({ url: r.url(), status: r.status() });
      });
      await p.goto(`/album/${albumId}`);
      await p.getByTestId('settings-toggle').click();
      await p.getByTestId('engine-select').selectOption('dash');
      await p.getByTestId('settings-toggle').click();
      await p.getByTestId('play-album').click();
      try {
        await p.waitForFunction(() => (window as unknown as { __player: { audio(): HTMLAudioElement } }).__player.audio().currentTime > 3, null, { timeout: 30_000 });
      } catch (e) {
        // What the deck was doing when it did not get to 3 s (a CI run once timed out here).
        const seen = await p.evaluate(() => {
          const w = window as unknown as { __player: { audio(): HTMLAudioElement; mode(): string; state(): unknown } };
          const a = w.__player.audio();
          return { mode: w.__player.mode(), paused: a.paused, currentTime: a.currentTime, readyState: a.readyState, networkState: a.networkState, error: a.error?.code ?? null, hasSrc: !!a.src, state: w.__player.state() };
        });
        throw new Error(`DASH playback did not pass 3 s: ${JSON.stringify(seen)}; edge responses ${JSON.stringify(dashRequests.map((r) => `${r.status} ${new URL(r.url).pathname.split('/').slice(-2).join('/')}`))}; ${(e as Error).message}`);
      }
      const st = await p.evaluate(() => {
        const w = window as unknown as { __player: { audio(): HTMLAudioElement; mode(): string; state(): { rendition?: { codec: string } } } };
        return { error: w.__player.audio().error?.code ?? null, paused: w.__player.audio().paused, mode: w.__player.mode(), rendition: w.__player.state().rendition };
      });
      assert.equal(st.error, null, 'no MediaError');
      assert.equal(st.paused, false);
      assert.equal(st.mode, 'dash', 'the deck plays through dash.js');
      const mpd = dashRequests.filter((r) => /\.mpd(\?|$)/.test(r.url));
      assert.ok(mpd.length >= 1 && mpd.every((r) => r.status === 200), `the MPD came from the edge: ${JSON.stringify(mpd)}`);
      assert.ok(mpd.every((r) => new URL(r.url).pathname.startsWith('/g/')), 'with the grant in its path');
      const segs = dashRequests.filter((r) => /\.m4s(\?|$)/.test(r.url));
      assert.ok(segs.length >= 1 && segs.every((r) => r.status === 200 && new URL(r.url).pathname.startsWith('/g/')), `segments through the edge with the grant: ${segs.length}`);
      console.log(`[e2e] DASH (dash.js): playing ${st.rendition?.codec ?? '?'}, ${segs.length} segments from the edge`);
    } finally {
      await context.close();
    }
  });
});
