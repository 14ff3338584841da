/**
 * PUT/DELETE /api/tracks/:id/cover against real storage (MinIO with IT_*, else the filesystem) and real
 * sharp: the cover alone is swapped (no new version, no job), checked by content, resized to ingest's
 * sizes, owner-only, problem+json errors; the catalog's cached track document sees the change at once.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { getTrack, markTrackReady } from '@platform/catalog';
import { ffmpeg, makeFixtures, type Fixtures } from './audio-fixtures';
import { form, startTestApp, type Account, type TestApp } from './harness';

let app: TestApp;
let fx: Fixtures;
let fxDir: string;
let bluePng: string;
let owner: Account;
let other: Account;

before(async () => {
  fxDir = await mkdtemp(path.join(os.tmpdir(), 'ingest-fx-'));
  fx = makeFixtures(fxDir);
  bluePng = path.join(fxDir, 'blue.png');
  ffmpeg(['-f', 'lavfi', '-i', 'color=c=blue:s=400x250:d=1', '-frames:v', '1', '-f', 'image2', '-c:v', 'png', bluePng]);
  app = await startTestApp({ name: 'cover' });
  owner = await app.signup('musician', 'Cover Band');
  other = await app.signup('musician', 'Other Band');
});

after(async () => {
  await app?.close();
  if (fxDir) await rm(fxDir, { recursive: true, force: true });
});

const bearer = (a: Account) => ({ authorization: `Bearer ${a.token}` });

async function newTrack(title: string, cover?: string): Promise<string> {
  const res = await fetch(`${app.base}/api/tracks`, { method: 'POST', headers: bearer(owner), body: await form({ title }, { file: fx.wav, cover }) });
  assert.equal(res.status, 202, await res.clone().text());
  const id = ((await res.json()) as { id: string }).id;
  await app.waitForJob(id);
  return id;
}

/** What the packager does when a version is ready (no media needed for cover tests). */
async function publish(id: string): Promise<void> {
  assert.ok(await markTrackReady(app.deps.sql, { trackId: id, version: 1, durationMs: 3000, loudness: null, renditions: [] }));
}

function putCover(id: string, body: BodyInit, headers: Record<string, string> = {}, a: Account = owner) {
  return fetch(`${app.base}/api/tracks/${id}/cover`, { method: 'PUT', headers: { ...bearer(a), ...headers }, body });
}

/** Mean RGB of the served image, to tell covers apart by what they show. */
async function servedColour(id: string, size = 300, a: Account = owner) {
  const res = await fetch(`${app.base}/api/tracks/${id}/cover?size=${size}`, { headers: bearer(a) });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'image/jpeg');
  const buf = Buffer.from(await res.arrayBuffer());
  const meta = await sharp(buf).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', size, size]);
  const { channels } = await sharp(buf).stats();
  return channels.slice(0, 3).map((c) => Math.round(c.mean));
}

async function problem(res: Response) {
  assert.match(res.headers.get('content-type') ?? '', /application\/problem\+json/);
  return (await res.json()) as { code: string; detail: string; status: number };
}

describe('PUT /api/tracks/:id/cover', () => {
  test('a raw image body gives a track without cover all three sizes, without a new version or job', async () => {
    const id = await newTrack('Coverless');
    await publish(id);
    // Warm the catalog's cached document: it must not keep saying hasCover=false.
    const warm = (await (await fetch(`${app.base}/api/tracks/${id}`)).json()) as { hasCover: boolean };
    assert.equal(warm.hasCover, false);
    const jobsBefore = app.jobs.filter((j) => j.key === id).length;

    const res = await putCover(id, new Uint8Array(await readFile(bluePng)), { 'content-type': 'image/png' });
    assert.equal(res.status, 200, await res.clone().text());
    const body = (await res.json()) as { id: string; hasCover: boolean; coverVersion: string; covers: Record<string, string> };
    assert.equal(body.hasCover, true);
    assert.deepEqual(Object.keys(body.covers).sort(), ['300', '600', '96']);

    for (const size of [96, 300, 600]) {
      const [r, g, b] = await servedColour(id, size);
      assert.ok(b > 200 && r < 40 && g < 40, `size ${size} is the blue picture: ${r},${g},${b}`);
    }
    const doc = (await (await fetch(`${app.base}/api/tracks/${id}`)).json()) as { hasCover: boolean; coverVersion?: string };
    assert.equal(doc.hasCover, true, 'the catalog cache was invalidated');
    assert.equal(doc.coverVersion, body.coverVersion, "the public track document names the new cover's version (players put it on the URL)");
    const status = (await (await fetch(`${app.base}/api/tracks/${id}/status`, { headers: bearer(owner) })).json()) as { coverVersion?: string; version: number };
    assert.equal(status.coverVersion, body.coverVersion);
    assert.equal(status.version, 1, 'no new audio version');
    const track = await getTrack(app.deps.sql, id);
    assert.equal(track?.status, 'ready', 'the audio is untouched');
    assert.equal(track?.publishedVersion, 1);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(app.jobs.filter((j) => j.key === id).length, jobsBefore, 'no processing job');

    // The versioned URL is immutable; the plain one is revalidated, so a replacement reaches listeners.
    const versioned = await fetch(`${app.base}${body.covers['300']}`);
    assert.equal(versioned.status, 200);
    assert.match(versioned.headers.get('cache-control') ?? '', /immutable/);
    const plain = await fetch(`${app.base}/api/tracks/${id}/cover?size=300`);
    assert.match(plain.headers.get('cache-control') ?? '', /max-age=3600\b/);
  });

  test('multipart replaces an uploaded cover: the served image changes and the old objects are removed', async () => {
    const id = await newTrack('Recovered', fx.cover);
    const before = await getTrack(app.deps.sql, id);
    assert.ok(before?.coverKey);
    const colourBefore = await servedColour(id);
    const beforeStatus = (await (await fetch(`${app.base}/api/tracks/${id}/status`, { headers: bearer(owner) })).json()) as { coverVersion?: string };

    const res = await putCover(id, await form({}, { cover: bluePng }));
    assert.equal(res.status, 200, await res.clone().text());
    const colourAfter = await servedColour(id);
    assert.notDeepEqual(colourAfter, colourBefore);
    assert.ok(colourAfter[2] > 200, `now blue: ${colourAfter.join(',')}`);
    const after = await getTrack(app.deps.sql, id);
    assert.notEqual(after?.coverKey, before.coverKey);
    assert.equal(await app.deps.objects.head(`${before.coverKey}/300.jpg`), null, 'the replaced cover is gone from storage');
    assert.notEqual(((await res.json()) as { coverVersion: string }).coverVersion, beforeStatus.coverVersion);
    assert.equal(after?.status, 'processing', 'a processing track keeps processing');
  });

  test('a file that is not an image: 415 unsupported_format, the cover is unchanged', async () => {
    const id = await newTrack('Keeps Cover', fx.cover);
    const key = (await getTrack(app.deps.sql, id))?.coverKey;
    for (const [body, type] of [
      [await readFile(fx.textAsWav), 'image/jpeg'],
      [await readFile(fx.wav), 'application/octet-stream'],
      [Buffer.from('just some words'), 'text/plain'],
    ] as const) {
      const res = await putCover(id, new Uint8Array(body), { 'content-type': type });
      assert.equal(res.status, 415, `${type}`);
      const p = await problem(res);
      assert.equal(p.code, 'unsupported_format');
      assert.match(p.detail, /JPEG|PNG|image/);
    }
    const multipart = await putCover(id, await form({}, { cover: fx.wav }));
    assert.equal((await problem(multipart)).code, 'unsupported_format');
    assert.equal((await getTrack(app.deps.sql, id))?.coverKey, key);
  });

  test('empty, missing and oversized bodies get their codes', async () => {
    const id = await newTrack('Edge Cases');
    const empty = await putCover(id, new Uint8Array(0), { 'content-type': 'image/png' });
    assert.equal(empty.status, 400);
    assert.equal((await problem(empty)).code, 'empty_file');
    const noPart = await putCover(id, await form({ title: 'x' }));
    assert.equal(noPart.status, 400);
    assert.equal((await problem(noPart)).code, 'validation_failed');
    // A declared 21 MiB body is refused from its Content-Length, before the bytes (only a sliver is sent).
    const huge = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(`${app.base}/api/tracks/${id}/cover`, { method: 'PUT', headers: { ...bearer(owner), 'content-type': 'image/png', 'content-length': String(21 * 1024 * 1024) } });
      req.on('response', (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString('utf8')));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body });
          req.destroy();
        });
      });
      req.on('error', reject);
      req.write(Buffer.alloc(1024));
    });
    assert.equal(huge.status, 413);
    assert.equal((JSON.parse(huge.body) as { code: string }).code, 'payload_too_large');
  });

  test('only the owner: another musician 403 on a published track, 404 on an unpublished one; anonymous 401', async () => {
    const id = await newTrack('Mine Only', fx.cover);
    const png = new Uint8Array(await readFile(bluePng));
    const hidden = await putCover(id, png, { 'content-type': 'image/png' }, other);
    assert.equal(hidden.status, 404);
    assert.equal((await problem(hidden)).code, 'not_found');
    await publish(id);
    const key = (await getTrack(app.deps.sql, id))?.coverKey;
    const res = await putCover(id, png, { 'content-type': 'image/png' }, other);
    assert.equal(res.status, 403);
    assert.equal((await problem(res)).code, 'forbidden');
    const del = await fetch(`${app.base}/api/tracks/${id}/cover`, { method: 'DELETE', headers: bearer(other) });
    assert.equal(del.status, 403);
    const anon = await fetch(`${app.base}/api/tracks/${id}/cover`, { method: 'PUT', headers: { 'content-type': 'image/png' }, body: png });
    assert.equal(anon.status, 401);
    assert.equal((await getTrack(app.deps.sql, id))?.coverKey, key, 'nothing changed');
  });

  test('a session cookie needs the CSRF header', async () => {
    const id = await newTrack('Cookie Cover');
    const png = new Uint8Array(await readFile(bluePng));
    const bad = await fetch(`${app.base}/api/tracks/${id}/cover`, { method: 'PUT', headers: { cookie: owner.cookie, 'content-type': 'image/png' }, body: png });
    assert.equal(bad.status, 403);
    assert.equal((await problem(bad)).code, 'csrf_mismatch');
    const ok = await fetch(`${app.base}/api/tracks/${id}/cover`, { method: 'PUT', headers: { cookie: owner.cookie, 'x-csrf-token': owner.csrf, 'content-type': 'image/png' }, body: png });
    assert.equal(ok.status, 200);
  });

  test('DELETE drops the cover: 404 on the image, hasCover false, objects removed', async () => {
    const id = await newTrack('Bare', fx.cover);
    const key = (await getTrack(app.deps.sql, id))?.coverKey;
    const res = await fetch(`${app.base}/api/tracks/${id}/cover`, { method: 'DELETE', headers: bearer(owner) });
    assert.equal(res.status, 204);
    const img = await fetch(`${app.base}/api/tracks/${id}/cover?size=96`, { headers: bearer(owner) });
    assert.equal(img.status, 404);
    const status = (await (await fetch(`${app.base}/api/tracks/${id}/status`, { headers: bearer(owner) })).json()) as { hasCover: boolean };
    assert.equal(status.hasCover, false);
    assert.equal(await app.deps.objects.head(`${key}/96.jpg`), null);
  });
});
