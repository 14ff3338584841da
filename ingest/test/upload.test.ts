/**
 * POST /api/tracks end to end against real components: content validation (every rejected kind gets
 * its CONTRACT code), auth (role, CSRF, token), and what an accepted upload leaves behind: the
 * original in object storage, a `processing` row, a job on ingest.jobs, status and cover routes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ZIngestJob } from '@platform/models';
import { getTrack } from '@platform/catalog';
import { makeFixtures, type Fixtures } from './audio-fixtures';
import { form, startTestApp, type Account, type TestApp } from './harness';

let app: TestApp;
let fx: Fixtures;
let fxDir: string;
let musician: Account;
let listener: Account;

before(async () => {
  fxDir = await mkdtemp(path.join(os.tmpdir(), 'ingest-fx-'));
  fx = makeFixtures(fxDir);
  app = await startTestApp({ name: 'upload' });
  musician = await app.signup('musician', 'Test Band');
  listener = await app.signup('listener');
});

after(async () => {
  await app?.close();
  if (fxDir) await rm(fxDir, { recursive: true, force: true });
});

async function rowsTitled(title: string): Promise<number> {
  const r = await app.deps.sql.selectFrom('tracks').select((eb) => eb.fn.countAll<string>().as('n')).where('title', '=', title).executeTakeFirstOrThrow();
  return Number(r.n);
}

const bearer = (a: Account) => ({ authorization: `Bearer ${a.token}` });

async function upload(fields: Record<string, string | undefined>, files: Record<string, string | undefined>, headers: Record<string, string> = bearer(musician)) {
  const res = await fetch(`${app.base}/api/tracks`, { method: 'POST', headers, body: await form(fields, files) });
  const body = (await res.json()) as Record<string, unknown>;
  return { status: res.status, body, headers: res.headers };
}

describe('POST /api/tracks accepts', () => {
  test('a WAV with a title: 202, original stored, row processing, job on the bus', async () => {
    const r = await upload({ title: 'First Light', album: 'Dawn', genre: 'Ambient' }, { file: fx.wav });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.equal(r.body.status, 'processing');
    const id = r.body.id as string;
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.equal(r.headers.get('location'), `/api/tracks/${id}`);

    const track = await getTrack(app.deps.sql, id);
    assert.ok(track);
    assert.equal(track.status, 'processing');
    assert.equal(track.title, 'First Light');
    assert.equal(track.albumTitle, 'Dawn');
    assert.equal(track.genre, 'Ambient');
    assert.equal(track.artistName, 'Test Band');
    assert.equal(track.currentVersion, 1);
    assert.match(track.originalKey ?? '', new RegExp(`^originals/${id}/[0-9a-f-]+\\.wav$`));
    const stored = await app.deps.objects.head(track.originalKey!);
    assert.equal(stored?.size, (await stat(fx.wav)).size, 'the original is stored byte for byte');

    const job = ZIngestJob.parse(await app.waitForJob(id));
    assert.equal(job.trackId, id);
    assert.equal(job.version, 1);
    assert.equal(job.originalKey, track.originalKey);
    assert.equal(job.uploadedBy, musician.userId || job.uploadedBy);
    assert.deepEqual(job.source, { format: 'wav', downmix: false });

    const st = await fetch(`${app.base}/api/tracks/${id}/status`, { headers: bearer(musician) });
    assert.equal(st.status, 200);
    const doc = (await st.json()) as { status: string; progress?: { stage: string; percent: number } };
    assert.equal(doc.status, 'processing');
    assert.equal(doc.progress?.stage, 'queued');

    const own = await fetch(`${app.base}/api/me/tracks`, { headers: bearer(musician) });
    assert.equal(own.status, 200);
    assert.ok(JSON.stringify(await own.json()).includes(id), 'the processing track is listed among the musician\'s own');
  });

  test('a tagged 24-bit FLAC without form fields: tags become the defaults (Cyrillic intact)', async () => {
    const r = await upload({}, { file: fx.flacTagged });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const track = await getTrack(app.deps.sql, r.body.id as string);
    assert.equal(track?.title, 'Звезда по имени Солнце');
    assert.equal(track?.artistName, 'Кино');
    assert.equal(track?.albumTitle, 'Звезда');
    assert.equal(track?.genre, 'Rock');
    assert.equal(track?.year, 1989);
    assert.equal(track?.trackNumber, 1);
    assert.match(track?.originalKey ?? '', /\.flac$/);
    const job = ZIngestJob.parse(await app.waitForJob(r.body.id as string));
    assert.equal(job.source.format, 'flac');
  });

  test('a 5.1 WAV is accepted and flagged for downmix', async () => {
    const r = await upload({ title: 'Surround' }, { file: fx.surroundWav });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.equal(r.body.downmix, true);
    assert.match(String((r.body.notices as string[])[0]), /6 channels.*stereo/);
    const job = ZIngestJob.parse(await app.waitForJob(r.body.id as string));
    assert.equal(job.source.downmix, true);
  });

  test('with a cover image: three JPEG sizes served to the owner, not to others while processing', async () => {
    const r = await upload({ title: 'With Cover' }, { file: fx.wav, cover: fx.cover });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const id = r.body.id as string;
    for (const size of [96, 300, 600]) {
      const res = await fetch(`${app.base}/api/tracks/${id}/cover?size=${size}`, { headers: bearer(musician) });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'image/jpeg');
      const buf = Buffer.from(await res.arrayBuffer());
      assert.equal(buf[0], 0xff);
      assert.equal(buf[1], 0xd8);
    }
    const bad = await fetch(`${app.base}/api/tracks/${id}/cover?size=123`, { headers: bearer(musician) });
    assert.equal(bad.status, 400);
    const anon = await fetch(`${app.base}/api/tracks/${id}/cover`);
    assert.equal(anon.status, 404, 'an unpublished track\'s cover is not public');
    const peaks = await fetch(`${app.base}/api/tracks/${id}/peaks`, { headers: bearer(musician) });
    assert.equal(peaks.status, 404, 'no peaks before the packager wrote them');
  });

  test('a session cookie with the CSRF header works', async () => {
    const r = await upload({ title: 'Via Cookie' }, { file: fx.wav }, { cookie: musician.cookie, 'x-csrf-token': musician.csrf });
    assert.equal(r.status, 202, JSON.stringify(r.body));
  });
});

describe('POST /api/tracks rejects', () => {
  const cases: Array<[string, () => string | undefined, number, string]> = [
    ['a PNG renamed .wav', () => fx.pngAsWav, 415, 'unsupported_format'],
    ['a text file renamed .wav', () => fx.textAsWav, 415, 'unsupported_format'],
    ['an MP3', () => fx.mp3, 415, 'unsupported_format'],
    ['a truncated WAV', () => fx.truncatedWav, 422, 'corrupt_audio'],
    ['an empty file', () => fx.empty, 400, 'empty_file'],
    ['a file under one second', () => fx.tooShort, 422, 'duration_out_of_range'],
  ];
  for (const [name, file, status, code] of cases) {
    test(name, async () => {
      const r = await upload({ title: name }, { file: file() });
      assert.equal(r.status, status, JSON.stringify(r.body));
      assert.equal(r.body.code, code);
      assert.equal(typeof r.body.detail, 'string');
      assert.match(r.headers.get('content-type') ?? '', /application\/problem\+json/);
      assert.equal(await rowsTitled(name), 0, 'no track row for a rejected file');
    });
  }

  test('no file part', async () => {
    const r = await upload({ title: 'Nothing attached' }, {});
    assert.equal(r.status, 400);
    assert.equal(r.body.code, 'validation_failed');
  });

  test('a JSON body instead of multipart', async () => {
    const res = await fetch(`${app.base}/api/tracks`, { method: 'POST', headers: { ...bearer(musician), 'content-type': 'application/json' }, body: JSON.stringify({ title: 'x' }) });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { code: string }).code, 'bad_request');
  });

  test('a title longer than 300 characters', async () => {
    const r = await upload({ title: 'x'.repeat(301) }, { file: fx.wav });
    assert.equal(r.status, 400);
    assert.equal(r.body.code, 'validation_failed');
  });

  test('a cover that is not an image', async () => {
    const r = await upload({ title: 'Bad cover' }, { file: fx.wav, cover: fx.textAsWav });
    assert.equal(r.status, 415);
    assert.equal(r.body.code, 'unsupported_format');
    assert.match(String(r.body.detail), /cover/i);
  });

  test('no credentials: 401', async () => {
    const r = await upload({ title: 'Anon' }, { file: fx.wav }, {});
    assert.equal(r.status, 401);
    assert.equal(r.body.code, 'unauthenticated');
  });

  test('a listener account: 403', async () => {
    const r = await upload({ title: 'Listener' }, { file: fx.wav }, bearer(listener));
    assert.equal(r.status, 403);
    assert.equal(r.body.code, 'forbidden');
  });

  test('a session cookie without the CSRF header: 403 csrf_mismatch', async () => {
    const r = await upload({ title: 'No CSRF' }, { file: fx.wav }, { cookie: musician.cookie });
    assert.equal(r.status, 403);
    assert.equal(r.body.code, 'csrf_mismatch');
  });

  test('status of someone else\'s track: 404', async () => {
    const r = await upload({ title: 'Mine' }, { file: fx.wav });
    assert.equal(r.status, 202);
    const other = await app.signup('musician', 'Other Band');
    const res = await fetch(`${app.base}/api/tracks/${r.body.id as string}/status`, { headers: bearer(other) });
    assert.equal(res.status, 404);
  });
});

describe('queue outage', () => {
  test('the bus refuses the job: 503 with Retry-After, the track is failed (not lost), retry re-queues it', async () => {
    const { MemoryBus } = await import('@platform/bus');
    const dead = new MemoryBus(app.deps.logger, 1);
    await dead.close();
    const live = app.deps.bus;
    app.deps.bus = dead;
    let id: string;
    try {
      const r = await upload({ title: 'During Outage' }, { file: fx.wav });
      assert.equal(r.status, 503, JSON.stringify(r.body));
      assert.equal(r.body.code, 'unavailable');
      assert.ok(Number(r.headers.get('retry-after')) > 0);
      id = r.body.id as string;
    } finally {
      app.deps.bus = live;
    }
    const track = await getTrack(app.deps.sql, id);
    assert.equal(track?.status, 'failed');
    assert.equal(track?.errorCode, 'unavailable');
    assert.ok(await app.deps.objects.head(track!.originalKey!), 'the original is kept for a retry');

    const retry = await fetch(`${app.base}/api/tracks/${id}/retry`, { method: 'POST', headers: bearer(musician) });
    assert.equal(retry.status, 202, await retry.clone().text());
    assert.equal(((await retry.json()) as { version: number }).version, 2);
    const job = ZIngestJob.parse(await app.waitForJob(id, 2));
    assert.equal(job.originalKey, track?.originalKey);
    assert.equal((await getTrack(app.deps.sql, id))?.status, 'processing');
  });
});

describe('POST /api/tracks cleans up', () => {
  // A form field that fails validation came after the audio was spooled: the audio stayed on disk.
  test('a bad form field (5000-character title) is a 400 and leaves no spooled audio behind', async () => {
    const incoming = path.join(app.dataDir, 'uploads', 'incoming');
    const { readdir } = await import('node:fs/promises');
    const before = new Set(await readdir(incoming).catch(() => [] as string[]));
    const r = await upload({ title: 'x'.repeat(5000) }, { file: fx.wav });
    assert.equal(r.status, 400);
    assert.equal(r.body.code, 'validation_failed');
    const left = (await readdir(incoming).catch(() => [] as string[])).filter((d) => !before.has(d));
    assert.deepEqual(left, [], 'spool dirs left behind');
  });
});
