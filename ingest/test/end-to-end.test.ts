/**
 * Upload -> job -> the real packager worker -> ready, seen through ingest's own routes: the status
 * event stream (SSE), public cover and peaks once published, a replacement (version 2), and the
 * `platform ingest` CLI (spawned as a user runs it) with one good, one bad and one missing file.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPackagerWorker, type PackagerWorker } from '@platform/packager';
import { getTrack } from '@platform/catalog';
import { makeFixtures, type Fixtures } from './audio-fixtures';
import { form, startTestApp, type Account, type TestApp } from './harness';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

let app: TestApp;
let fx: Fixtures;
let fxDir: string;
let musician: Account;
let worker: PackagerWorker;

before(async () => {
  fxDir = await mkdtemp(path.join(os.tmpdir(), 'ingest-fx-'));
  fx = makeFixtures(fxDir);
  app = await startTestApp({ name: 'e2e' });
  const work = path.join(app.dataDir, 'work');
  await mkdir(work, { recursive: true });
  worker = createPackagerWorker(app.deps, { topic: app.topic, groupId: `packager-${path.basename(app.dataDir)}`, concurrency: 1, tmpDir: work });
  await worker.start();
  musician = await app.signup('musician', 'End To End');
});

after(async () => {
  await worker?.stop({ abort: true }).catch(() => undefined);
  await app?.close();
  if (fxDir) await rm(fxDir, { recursive: true, force: true });
});

const bearer = () => ({ authorization: `Bearer ${musician.token}` });

interface StatusEvent {
  status: string;
  version: number;
  progress?: { stage: string; percent: number };
  error?: { code: string; detail: string };
}

/** Read the SSE stream until it ends (the server ends it at ready/failed). */
async function readEvents(id: string, timeoutMs = 120_000): Promise<StatusEvent[]> {
  const res = await fetch(`${app.base}/api/tracks/${id}/events`, { headers: bearer(), signal: AbortSignal.timeout(timeoutMs) });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const events: StatusEvent[] = [];
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    let i: number;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const type = /^event: (.+)$/m.exec(block)?.[1];
      const data = /^data: (.+)$/m.exec(block)?.[1];
      if (type === 'status' && data) events.push(JSON.parse(data) as StatusEvent);
    }
  }
  return events;
}

async function waitStatus(id: string, want: string, timeoutMs = 120_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const doc = (await (await fetch(`${app.base}/api/tracks/${id}/status`, { headers: bearer() })).json()) as StatusEvent & { publishedVersion: number | null };
    if (doc.status === want) return doc;
    if (Date.now() > until) throw new Error(`track ${id} is ${doc.status}, not ${want}, after ${timeoutMs} ms: ${JSON.stringify(doc)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('upload to ready', () => {
  let trackId = '';

  test('a FLAC with a cover goes processing -> ready; the event stream shows the stages and ends', async () => {
    const r = await fetch(`${app.base}/api/tracks`, { method: 'POST', headers: bearer(), body: await form({ title: 'Round Trip' }, { file: fx.flacTagged, cover: fx.cover }) });
    assert.equal(r.status, 202);
    trackId = ((await r.json()) as { id: string }).id;

    const events = await readEvents(trackId);
    assert.ok(events.length >= 2, `several status events: ${JSON.stringify(events)}`);
    assert.equal(events[0].status, 'processing');
    const last = events[events.length - 1];
    assert.equal(last.status, 'ready', JSON.stringify(last));
    assert.equal(last.progress?.percent, 100);
    const percents = events.filter((e) => e.status === 'processing').map((e) => e.progress?.percent ?? 0);
    assert.deepEqual(percents, [...percents].sort((a, b) => a - b), 'progress never goes backwards');

    const track = await getTrack(app.deps.sql, trackId);
    assert.equal(track?.status, 'ready');
    assert.equal(track?.publishedVersion, 1);
    assert.ok((track?.renditions.length ?? 0) >= 8);
    assert.match(track?.coverKey ?? '', /^covers\//, 'the uploaded cover wins over the embedded one');
  });

  test('published cover and peaks are public, cacheable and revalidate with ETag', async () => {
    const cover = await fetch(`${app.base}/api/tracks/${trackId}/cover?size=96`);
    assert.equal(cover.status, 200);
    assert.equal(cover.headers.get('content-type'), 'image/jpeg');
    assert.match(cover.headers.get('cache-control') ?? '', /public, max-age=\d{4,}/); // revalidated hourly: a replaced cover must reach listeners
    const etag = cover.headers.get('etag');
    assert.ok(etag);
    await cover.arrayBuffer();
    const again = await fetch(`${app.base}/api/tracks/${trackId}/cover?size=96`, { headers: { 'if-none-match': etag! } });
    assert.equal(again.status, 304);

    const peaks = await fetch(`${app.base}/api/tracks/${trackId}/peaks`);
    assert.equal(peaks.status, 200);
    assert.match(peaks.headers.get('content-type') ?? '', /application\/json/);
    const body = (await peaks.json()) as { peaks: number[] };
    assert.ok(Array.isArray(body.peaks) && body.peaks.length > 0);

    const none = await fetch(`${app.base}/api/tracks/00000000-0000-4000-8000-000000000000/peaks`);
    assert.equal(none.status, 404);
  });

  test('replacing the audio publishes version 2; retry is refused on a ready track', async () => {
    const r = await fetch(`${app.base}/api/tracks/${trackId}/replace`, { method: 'POST', headers: bearer(), body: await form({}, { file: fx.wav }) });
    assert.equal(r.status, 202, await r.clone().text());
    const body = (await r.json()) as { version: number };
    assert.equal(body.version, 2);
    const doc = await waitStatus(trackId, 'ready');
    assert.equal(doc.publishedVersion, 2);
    const track = await getTrack(app.deps.sql, trackId);
    assert.match(track?.originalKey ?? '', /\.wav$/);

    const retry = await fetch(`${app.base}/api/tracks/${trackId}/retry`, { method: 'POST', headers: bearer() });
    assert.equal(retry.status, 409);
  });
});

function runCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'platform/bin/platform.mjs'), 'ingest', ...args], {
      cwd: repoRoot,
      env: { ...process.env, PLATFORM_URL: '', PLATFORM_TOKEN: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('platform ingest (CLI)', () => {
  test('one good, one PNG-as-WAV, one missing file: JSON lines, exit 1', async () => {
    const missing = path.join(fxDir, 'nope.wav');
    const r = await runCli([fx.wav, fx.pngAsWav, missing, '--artist', 'CLI Artist', '--album', 'CLI Album', '--json'], { PLATFORM_URL: app.base, PLATFORM_TOKEN: musician.token });
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { file: string; id: string | null; status: string; artist?: string; album?: string; error?: { code: string } });
    assert.equal(lines.length, 3, r.stdout);
    const by = (f: string) => lines.find((l) => l.file === f)!;
    assert.equal(by(fx.wav).status, 'ready');
    assert.match(by(fx.wav).id ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(by(fx.wav).artist, 'CLI Artist');
    assert.equal(by(fx.wav).album, 'CLI Album');
    assert.equal(by(fx.pngAsWav).status, 'failed');
    assert.equal(by(fx.pngAsWav).error?.code, 'unsupported_format');
    assert.equal(by(missing).error?.code, 'file_not_found');
    assert.match(r.stderr, /1 of 3 ready/);
  });

  test('all good: exit 0; human summary on stdout without --json', async () => {
    const r = await runCli([fx.flacTagged], { PLATFORM_URL: app.base, PLATFORM_TOKEN: musician.token });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ready\s+[0-9a-f-]{36}\s+.*tagged\.flac$/m);
  });

  test('clear messages: no token (2), refused token (2), server unreachable (3)', async () => {
    const noToken = await runCli([fx.wav], { PLATFORM_URL: app.base });
    assert.equal(noToken.code, 2);
    assert.match(noToken.stderr, /PLATFORM_TOKEN is not set/);
    const badToken = await runCli([fx.wav], { PLATFORM_URL: app.base, PLATFORM_TOKEN: 'mpt_nope' });
    assert.equal(badToken.code, 2);
    assert.match(badToken.stderr, /refused PLATFORM_TOKEN/);
    const down = await runCli([fx.wav], { PLATFORM_URL: 'http://127.0.0.1:9', PLATFORM_TOKEN: musician.token });
    assert.equal(down.code, 3);
    assert.match(down.stderr, /Cannot reach the platform at http:\/\/127\.0\.0\.1:9/);
  });
});
