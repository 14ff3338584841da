/**
 * Resumable uploads (tus 1.0 at /api/uploads/) end to end, including a connection cut mid-PATCH and
 * a resume from the offset the server reports, and the upload size limit (UPLOAD_MAX_BYTES) on both
 * the multipart and the tus path.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ZIngestJob } from '@platform/models';
import { getTrack, markTrackReady } from '@platform/catalog';
import { makeFixtures, type Fixtures } from './audio-fixtures';
import { form, startTestApp, type Account, type TestApp } from './harness';

let app: TestApp;
let fx: Fixtures;
let fxDir: string;
let musician: Account;

const LIMIT = 1024 * 1024; // ok.wav (517 KiB) fits, surround.wav (1.5 MiB) does not

before(async () => {
  fxDir = await mkdtemp(path.join(os.tmpdir(), 'ingest-fx-'));
  fx = makeFixtures(fxDir);
  app = await startTestApp({ name: 'tus', uploadMaxBytes: String(LIMIT) });
  musician = await app.signup('musician', 'Resumable Band');
});

after(async () => {
  await app?.close();
  if (fxDir) await rm(fxDir, { recursive: true, force: true });
});

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const auth = (a: Account = musician) => ({ authorization: `Bearer ${a.token}`, 'tus-resumable': '1.0.0' });

async function createUpload(size: number, meta: Record<string, string>, a: Account = musician) {
  return fetch(`${app.base}/api/uploads`, {
    method: 'POST',
    headers: { ...auth(a), 'upload-length': String(size), 'upload-metadata': Object.entries(meta).map(([k, v]) => `${k} ${b64(v)}`).join(',') },
  });
}

function patch(url: string, offset: number, body: Buffer, a: Account = musician) {
  return fetch(url, { method: 'PATCH', headers: { ...auth(a), 'upload-offset': String(offset), 'content-type': 'application/offset+octet-stream' }, body: new Uint8Array(body) });
}

/** Send part of a PATCH body, then cut the connection (a dropped mobile link). */
function patchAndDrop(url: string, offset: number, body: Buffer, sendBytes: number): Promise<void> {
  return new Promise((resolve) => {
    const u = new URL(url);
    const req = http.request(u, {
      method: 'PATCH',
      headers: { ...auth(), 'upload-offset': String(offset), 'content-type': 'application/offset+octet-stream', 'content-length': String(body.length) },
    });
    req.on('error', () => resolve());
    req.on('response', () => resolve());
    req.write(body.subarray(0, sendBytes), () => {
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 300);
    });
  });
}

describe('tus resumable uploads', () => {
  test('create, cut mid-PATCH, resume from HEAD offset, finish: track id, job, stored original', async () => {
    const bytes = await readFile(fx.wav);
    const created = await createUpload(bytes.length, { filename: 'Rückkehr.wav', title: 'Rückkehr', album: 'Wege' });
    assert.equal(created.status, 201, await created.text());
    const location = created.headers.get('location');
    assert.match(location ?? '', /^\/api\/uploads\/[0-9a-f]{32}$/);
    const url = `${app.base}${location}`;
    const uploadId = location!.split('/').pop()!;

    await patchAndDrop(url, 0, bytes, 200_000);
    // The server keeps what arrived; the client asks where to continue.
    let offset = -1;
    for (let i = 0; i < 50; i++) {
      const head = await fetch(url, { method: 'HEAD', headers: auth() });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('upload-length'), String(bytes.length));
      offset = Number(head.headers.get('upload-offset'));
      if (offset > 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(offset > 0 && offset < bytes.length, `partial offset after the cut: ${offset}`);

    const status = await fetch(`${app.base}/api/uploads/${uploadId}/track`, { headers: auth() });
    assert.equal(status.status, 200);
    assert.equal(((await status.json()) as { state: string }).state, 'uploading');

    const done = await patch(url, offset, bytes.subarray(offset));
    assert.equal(done.status, 204, await done.text());
    assert.equal(done.headers.get('upload-offset'), String(bytes.length));
    const trackId = done.headers.get('upload-track-id');
    assert.match(trackId ?? '', /^[0-9a-f-]{36}$/);

    const outcome = (await (await fetch(`${app.base}/api/uploads/${uploadId}/track`, { headers: auth() })).json()) as { state: string; trackId: string };
    assert.deepEqual({ state: outcome.state, trackId: outcome.trackId }, { state: 'accepted', trackId });

    const track = await getTrack(app.deps.sql, trackId!);
    assert.equal(track?.status, 'processing');
    assert.equal(track?.title, 'Rückkehr');
    assert.equal(track?.albumTitle, 'Wege');
    assert.equal(track?.originalKey, `originals/${trackId}/${uploadId}.wav`);
    const stored = await app.deps.objects.getBuffer(track!.originalKey!);
    assert.ok(stored?.equals(bytes), 'the resumed upload is stored byte for byte');
    const job = ZIngestJob.parse(await app.waitForJob(trackId!));
    assert.equal(job.originalKey, track?.originalKey);
  });

  test('Upload-Metadata fills the same fields as the multipart form (typed fields, tags, file name)', async () => {
    const fields = (t: NonNullable<Awaited<ReturnType<typeof getTrack>>>) => ({
      title: t.title, artist: t.artistName, album: t.albumTitle, genre: t.genre, trackNumber: t.trackNumber, year: t.year, isrc: t.isrc,
      fileName: (t.notes.source as { fileName?: string } | undefined)?.fileName,
    });
    const viaTus = async (file: string, meta: Record<string, string>) => {
      const bytes = await readFile(file);
      const created = await createUpload(bytes.length, meta);
      assert.equal(created.status, 201, await created.text());
      const done = await patch(`${app.base}${created.headers.get('location')}`, 0, bytes);
      assert.equal(done.status, 204, await done.text());
      return (await getTrack(app.deps.sql, done.headers.get('upload-track-id')!))!;
    };
    const viaMultipart = async (file: string, name: string, meta: Record<string, string>) => {
      const fd = await form(meta);
      fd.append('file', new Blob([new Uint8Array(await readFile(file))]), name);
      const res = await fetch(`${app.base}/api/tracks`, { method: 'POST', headers: { authorization: `Bearer ${musician.token}` }, body: fd });
      assert.equal(res.status, 202, await res.clone().text());
      return (await getTrack(app.deps.sql, ((await res.json()) as { id: string }).id))!;
    };
    const cases: Array<[string, string, Record<string, string>, Record<string, unknown>]> = [
      // Typed fields win over tags.
      [fx.flacTagged, 'any name.flac', { title: 'Свет', artist: 'Группа Крови', album: 'Ночь', genre: 'Post-Punk' }, { title: 'Свет', artist: 'Группа Крови', album: 'Ночь', genre: 'Post-Punk' }],
      // Nothing typed: the tags (Cyrillic intact), track number and year.
      [fx.flacTagged, 'tagged.flac', {}, { title: 'Звезда по имени Солнце', artist: 'Кино', album: 'Звезда', genre: 'Rock', trackNumber: 1, year: 1989 }],
      // No tags either: the title comes from the file name.
      [fx.wav, 'Morning_Walk (demo).wav', { genre: 'Folk' }, { title: 'Morning Walk (demo)', genre: 'Folk' }],
    ];
    for (const [file, name, meta, expected] of cases) {
      const t = fields(await viaTus(file, { filename: name, ...meta }));
      const m = fields(await viaMultipart(file, name, meta));
      assert.deepEqual(t, m, `tus and multipart agree for ${name} ${JSON.stringify(meta)}`);
      for (const [k, v] of Object.entries(expected)) assert.equal(t[k as keyof typeof t], v, `${name}: ${k}`);
      assert.equal(t.fileName, name);
    }
  });

  test('replace-track-id: the file becomes a new version of my track; others\u2019 and processing tracks are refused up front', async () => {
    const res = await fetch(`${app.base}/api/tracks`, { method: 'POST', headers: { authorization: `Bearer ${musician.token}` }, body: await form({ title: 'Take One' }, { file: fx.wav }) });
    assert.equal(res.status, 202);
    const trackId = ((await res.json()) as { id: string }).id;
    await app.waitForJob(trackId, 1);

    const bytes = await readFile(fx.flacTagged);
    const busy = await createUpload(bytes.length, { filename: 'take2.flac', 'replace-track-id': trackId });
    assert.equal(busy.status, 409, 'a track still processing cannot be replaced');
    assert.equal(((await busy.json()) as { code: string }).code, 'conflict');

    assert.ok(await markTrackReady(app.deps.sql, { trackId, version: 1, durationMs: 3000, loudness: null, renditions: [] }));
    const other = await app.signup('musician', 'Not The Owner');
    const theirs = await createUpload(bytes.length, { filename: 'take2.flac', 'replace-track-id': trackId }, other);
    assert.equal(theirs.status, 404);
    assert.equal(((await theirs.json()) as { code: string }).code, 'not_found');

    const created = await createUpload(bytes.length, { filename: 'take2.flac', 'replace-track-id': trackId, title: 'ignored' });
    assert.equal(created.status, 201, await created.text());
    const done = await patch(`${app.base}${created.headers.get('location')}`, 0, bytes);
    assert.equal(done.status, 204, await done.text());
    assert.equal(done.headers.get('upload-track-id'), trackId, 'the same track, not a new one');
    const job = ZIngestJob.parse(await app.waitForJob(trackId, 2));
    assert.deepEqual(job.source, { format: 'flac', downmix: false });
    const track = await getTrack(app.deps.sql, trackId);
    assert.equal(track?.currentVersion, 2);
    assert.equal(track?.publishedVersion, 1, 'version 1 keeps playing until version 2 is ready');
    assert.equal(track?.title, 'Take One', 'a replacement changes the audio only');
    assert.equal(track?.originalKey, job.originalKey);
  });

  test('a PNG uploaded through tus is rejected at the end with a problem body', async () => {
    const bytes = await readFile(fx.pngAsWav);
    const created = await createUpload(bytes.length, { filename: 'picture.wav' });
    assert.equal(created.status, 201);
    const url = `${app.base}${created.headers.get('location')}`;
    const res = await patch(url, 0, bytes);
    assert.equal(res.status, 415);
    const problem = (await res.json()) as { code: string; detail: string };
    assert.equal(problem.code, 'unsupported_format');
    const outcome = (await (await fetch(`${url}/track`, { headers: auth() })).json()) as { state: string; error: { code: string } };
    assert.equal(outcome.state, 'rejected');
    assert.equal(outcome.error.code, 'unsupported_format');
  });

  test('someone else cannot see or continue my upload', async () => {
    const created = await createUpload(1000, { filename: 'a.wav' });
    const url = `${app.base}${created.headers.get('location')}`;
    const other = await app.signup('musician', 'Intruder');
    const head = await fetch(url, { method: 'HEAD', headers: auth(other) });
    assert.equal(head.status, 404);
    const res = await patch(url, 0, Buffer.alloc(10), other);
    assert.equal(res.status, 404);
    const track = await fetch(`${url}/track`, { headers: auth(other) });
    assert.equal(track.status, 404);
  });

  test('anonymous and listener requests are refused', async () => {
    const anon = await fetch(`${app.base}/api/uploads`, { method: 'POST', headers: { 'tus-resumable': '1.0.0', 'upload-length': '100' } });
    assert.equal(anon.status, 401);
    const listener = await app.signup('listener');
    const res = await createUpload(100, { filename: 'a.wav' }, listener);
    assert.equal(res.status, 403);
  });

  test('an upload declared larger than UPLOAD_MAX_BYTES: 413', async () => {
    const res = await createUpload(LIMIT + 1, { filename: 'big.wav' });
    assert.equal(res.status, 413);
  });
});

describe('UPLOAD_MAX_BYTES on POST /api/tracks', () => {
  test('a file under the limit passes', async () => {
    const res = await fetch(`${app.base}/api/tracks`, { method: 'POST', headers: { authorization: `Bearer ${musician.token}` }, body: await form({ title: 'Small' }, { file: fx.wav }) });
    assert.equal(res.status, 202);
    await app.waitForJob(((await res.json()) as { id: string }).id);
  });

  test('a file over the limit: 413 payload_too_large, nothing stored, no job', async () => {
    assert.ok((await stat(fx.surroundWav)).size > LIMIT);
    const res = await fetch(`${app.base}/api/tracks`, { method: 'POST', headers: { authorization: `Bearer ${musician.token}` }, body: await form({ title: 'Too big' }, { file: fx.surroundWav }) });
    assert.equal(res.status, 413);
    const body = (await res.json()) as { code: string; detail: string };
    assert.equal(body.code, 'payload_too_large');
    assert.match(body.detail, /limit/);
    const rows = await app.deps.sql.selectFrom('tracks').select('id').where('title', '=', 'Too big').execute();
    assert.equal(rows.length, 0, 'no track row');
  });

  test('a chunked body (no Content-Length) over the limit is cut off while streaming', async () => {
    const fd = await form({ title: 'Chunked' }, { file: fx.surroundWav });
    const encoded = new Response(fd);
    const res = await fetch(`${app.base}/api/tracks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${musician.token}`, 'content-type': encoded.headers.get('content-type')! },
      body: encoded.body,
      duplex: 'half',
    } as RequestInit);
    assert.equal(res.status, 413);
    assert.equal(((await res.json()) as { code: string }).code, 'payload_too_large');
  });
});

describe('early refusal', () => {
  test('a declared Content-Length far over the limit is refused before the body is read', async () => {
    const declared = LIMIT + 64 * 1024 * 1024;
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${app.base}/api/tracks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${musician.token}`, 'content-type': 'multipart/form-data; boundary=x', 'content-length': String(declared) },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      req.on('error', reject);
      // Only a sliver of the promised body is ever sent: the answer must not wait for the rest.
      req.write(Buffer.alloc(1024));
    });
    assert.equal(status, 413);
  });
});
