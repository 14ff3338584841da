/**
 * ObjectStore contract: the same cases, unchanged, against the filesystem store and a real S3 (MinIO from
 * infra/local at IT_S3_ENDPOINT). Keys live under a prefix unique to this run, so runs can overlap.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { isAppError } from '@platform/errors';
import { FsObjectStore, S3ObjectStore, type ObjectStore } from '../src/index';

function requireEnv(name: string): string {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set: this contract test needs the real service. Run \`npm test\` (it starts infra/local), or \`bash infra/local/up.sh && source .infra/env\` first.`);
  }
  return v;
}

const md5 = (b: Buffer) => `"${createHash('md5').update(b).digest('hex')}"`;

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A source that yields `good` bytes and then fails, as an upload whose client disconnects midway. */
function failingSource(good: Buffer): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(good);
      } else {
        this.destroy(new Error('client went away'));
      }
    },
  });
}

const run = `contract-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;

type Factory = () => Promise<{ store: ObjectStore; cleanup: () => Promise<void> }>;

const implementations: [string, Factory][] = [
  [
    'fs',
    async () => {
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'objects-contract-'));
      return { store: new FsObjectStore(dir), cleanup: () => fs.rm(dir, { recursive: true, force: true }) };
    },
  ],
  [
    's3',
    async () => {
      const store = await new S3ObjectStore({
        endpoint: requireEnv('IT_S3_ENDPOINT'),
        accessKey: requireEnv('IT_S3_ACCESS_KEY'),
        secretKey: requireEnv('IT_S3_SECRET_KEY'),
        bucket: requireEnv('IT_S3_BUCKET'),
      }).init();
      return { store, cleanup: async () => void (await store.deletePrefix(`${run}/`)) };
    },
  ],
];

for (const [name, factory] of implementations) {
  describe(`ObjectStore contract: ${name}`, () => {
    let store: ObjectStore;
    let cleanup: () => Promise<void> = async () => undefined;
    const k = (key: string) => `${run}/${key}`;

    before(async () => {
      ({ store, cleanup } = await factory());
    });
    after(async () => {
      await cleanup();
      await store?.close();
    });

    test('ping answers', async () => {
      await store.ping();
    });

    test('put then head/get return the same bytes, size, quoted MD5 etag, content type and metadata', async () => {
      const body = Buffer.from('hello, objects');
      const info = await store.put(k('a/hello.txt'), body, { contentType: 'text/plain', metadata: { TrackId: 't1' } });
      assert.equal(info.size, body.length);
      assert.equal(info.etag, md5(body));
      const head = await store.head(k('a/hello.txt'));
      assert.ok(head);
      assert.equal(head.size, body.length);
      assert.equal(head.etag, md5(body));
      assert.equal(head.contentType, 'text/plain');
      assert.equal(head.metadata?.trackid, 't1');
      assert.ok(head.lastModified instanceof Date);
      const got = await store.get(k('a/hello.txt'));
      assert.ok(got);
      assert.deepEqual(await readAll(got.body), body);
      assert.deepEqual(await store.getBuffer(k('a/hello.txt')), body);
    });

    test('content type is guessed from the extension when not given', async () => {
      await store.put(k('guess/master.m3u8'), '#EXTM3U\n');
      assert.equal((await store.head(k('guess/master.m3u8')))?.contentType, 'application/vnd.apple.mpegurl');
    });

    test('a range read returns exactly the bytes asked for', async () => {
      const body = randomBytes(100_000);
      await store.put(k('ranges/blob.bin'), body);
      const cases: [{ start: number; end?: number }, Buffer][] = [
        [{ start: 0, end: 0 }, body.subarray(0, 1)],
        [{ start: 10, end: 19 }, body.subarray(10, 20)],
        [{ start: 65_530, end: 70_000 }, body.subarray(65_530, 70_001)],
        [{ start: 99_999 }, body.subarray(99_999)],
        [{ start: 50_000 }, body.subarray(50_000)],
        // An end past the object is clipped to its last byte, as HTTP does.
        [{ start: 99_990, end: 2_000_000 }, body.subarray(99_990)],
      ];
      for (const [range, expected] of cases) {
        const got = await store.get(k('ranges/blob.bin'), range);
        assert.ok(got);
        const bytes = await readAll(got.body);
        assert.equal(bytes.length, expected.length, `length of ${JSON.stringify(range)}`);
        assert.ok(bytes.equals(expected), `bytes of ${JSON.stringify(range)}`);
        assert.equal(got.info.size, body.length, 'info describes the whole object');
      }
    });

    test('a range starting past the end is range_not_satisfiable', async () => {
      await store.put(k('ranges/small.bin'), Buffer.alloc(10, 1));
      await assert.rejects(
        () => store.get(k('ranges/small.bin'), { start: 10 }),
        (e: unknown) => isAppError(e) && e.code === 'range_not_satisfiable',
      );
      await assert.rejects(
        () => store.get(k('ranges/small.bin'), { start: 5, end: 2 }),
        (e: unknown) => isAppError(e) && e.code === 'range_not_satisfiable',
      );
    });

    test('a write whose stream fails midway leaves nothing readable', async () => {
      await assert.rejects(() => store.put(k('partial/new.bin'), failingSource(randomBytes(64 * 1024))), /client went away/);
      assert.equal(await store.head(k('partial/new.bin')), null);
      assert.equal(await store.get(k('partial/new.bin')), null);
      const listed: string[] = [];
      for await (const o of store.list(k('partial/'))) listed.push(o.key);
      assert.deepEqual(listed, []);
    });

    test('a failed overwrite keeps the previous object whole', async () => {
      const old = randomBytes(5000);
      await store.put(k('partial/existing.bin'), old);
      await assert.rejects(() => store.put(k('partial/existing.bin'), failingSource(randomBytes(9000))), /client went away/);
      assert.deepEqual(await store.getBuffer(k('partial/existing.bin')), old);
    });

    test('an overwrite replaces the bytes and the etag', async () => {
      await store.put(k('over/x.bin'), 'one');
      const before_ = await store.head(k('over/x.bin'));
      await store.put(k('over/x.bin'), 'two!');
      const after_ = await store.head(k('over/x.bin'));
      assert.notEqual(before_?.etag, after_?.etag);
      assert.equal(after_?.size, 4);
      assert.equal((await store.getBuffer(k('over/x.bin')))?.toString(), 'two!');
    });

    test('a large streamed write of unknown length arrives whole', async () => {
      // 9 MiB in 64 KiB chunks: past the S3 adapter's in-memory buffer, so it spools and uploads by size.
      const chunk = randomBytes(64 * 1024);
      const count = 144;
      const hash = createHash('md5');
      for (let i = 0; i < count; i++) hash.update(chunk);
      const source = Readable.from((function* () {
        for (let i = 0; i < count; i++) yield chunk;
      })());
      const info = await store.put(k('big/nine.bin'), source);
      assert.equal(info.size, chunk.length * count);
      const got = await store.get(k('big/nine.bin'));
      assert.ok(got);
      const h2 = createHash('md5');
      let n = 0;
      for await (const c of got.body) {
        h2.update(c as Buffer);
        n += (c as Buffer).length;
      }
      assert.equal(n, chunk.length * count);
      assert.equal(h2.digest('hex'), hash.digest('hex'));
    });

    test('putFile and getFile move whole files; getFile of a missing key is false', async () => {
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'objects-files-'));
      try {
        const src = path.join(dir, 'in.bin');
        const body = randomBytes(300_000);
        await fs.writeFile(src, body);
        const info = await store.putFile(k('files/seg.m4s'), src);
        assert.equal(info.size, body.length);
        assert.equal((await store.head(k('files/seg.m4s')))?.contentType, 'video/iso.segment');
        const dst = path.join(dir, 'out', 'copy.bin');
        assert.equal(await store.getFile(k('files/seg.m4s'), dst), true);
        assert.deepEqual(await fs.readFile(dst), body);
        assert.equal(await store.getFile(k('files/missing.bin'), path.join(dir, 'nope.bin')), false);
        await assert.rejects(fs.access(path.join(dir, 'nope.bin')));
      } finally {
        await fs.rm(dir, { recursive: true, force: true });
      }
    });

    test('deferred durability: objects read back at once (bytes, etag), flush covers them, deleted ones and other prefixes too', async () => {
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'objects-defer-'));
      try {
        const bodies = Array.from({ length: 24 }, (_, i) => randomBytes(1000 + i * 997));
        await Promise.all(bodies.map(async (b, i) => {
          const src = path.join(dir, `${i}.m4s`);
          await fs.writeFile(src, b);
          const info = await store.putFile(k(`defer/seg/${i}.m4s`), src, { deferDurability: true });
          assert.equal(info.etag, md5(b));
        }));
        await store.put(k('defer/extra.json'), '{"v":1}', { deferDurability: true, contentType: 'application/json' });
        await store.put(k('defer/gone'), 'x', { deferDurability: true });
        await store.delete(k('defer/gone'));
        await store.put(k('defer-other/x'), 'y', { deferDurability: true });
        // Readable before the flush, as the interface says.
        assert.deepEqual(await store.getBuffer(k('defer/seg/5.m4s')), bodies[5]);
        await store.flush(k('defer/'));
        await store.flush(k('defer/'));
        await store.flush();
        for (const [i, b] of bodies.entries()) assert.equal((await store.head(k(`defer/seg/${i}.m4s`)))?.etag, md5(b));
        assert.equal((await store.head(k('defer/extra.json')))?.contentType, 'application/json');
        assert.equal(await store.head(k('defer/gone')), null);
        assert.deepEqual(await store.getBuffer(k('defer-other/x')), Buffer.from('y'));
      } finally {
        await fs.rm(dir, { recursive: true, force: true });
      }
    });

    test('a key used as a folder (or under an object) is refused with conflict, plain or deferred', async () => {
      await store.put(k('nest/a/b'), 'x');
      await store.put(k('nest/file'), 'x');
      if (store.kind === 'fs') {
        // S3 has no folders and allows both; a filesystem cannot, and says so.
        for (const deferDurability of [false, true]) {
          await assert.rejects(() => store.put(k('nest/a'), 'y', { deferDurability }), (e: unknown) => isAppError(e) && e.code === 'conflict');
          await assert.rejects(() => store.put(k('nest/file/c'), 'y', { deferDurability }), (e: unknown) => isAppError(e) && e.code === 'conflict');
        }
      }
      assert.deepEqual(await store.getBuffer(k('nest/a/b')), Buffer.from('x'));
      assert.deepEqual(await store.getBuffer(k('nest/file')), Buffer.from('x'));
    });

    test('missing keys: head, get and getBuffer give null; delete is a no-op', async () => {
      assert.equal(await store.head(k('nothing/here')), null);
      assert.equal(await store.get(k('nothing/here')), null);
      assert.equal(await store.get(k('nothing/here'), { start: 0, end: 1 }), null);
      assert.equal(await store.getBuffer(k('nothing/here')), null);
      await store.delete(k('nothing/here'));
    });

    test('list returns the keys under a prefix in lexicographic order, and only those', async () => {
      const keys = ['list/b/2.ts', 'list/a.txt', 'list/b/10.ts', 'list/b/1.ts', 'list/c', 'listing/other.txt'];
      for (const key of keys) await store.put(k(key), key);
      const seen: string[] = [];
      for await (const o of store.list(k('list/'))) {
        seen.push(o.key);
        assert.equal(o.size, Buffer.byteLength(o.key.slice(run.length + 1)));
      }
      assert.deepEqual(seen, ['list/a.txt', 'list/b/1.ts', 'list/b/10.ts', 'list/b/2.ts', 'list/c'].map(k));
      const partial: string[] = [];
      for await (const o of store.list(k('list/b/1'))) partial.push(o.key);
      assert.deepEqual(partial, ['list/b/1.ts', 'list/b/10.ts'].map(k));
    });

    test('delete and deletePrefix remove exactly what they name', async () => {
      for (const key of ['del/a/1', 'del/a/2', 'del/a/3', 'del/b/1', 'del/keep']) await store.put(k(key), 'x');
      await store.delete(k('del/keep'));
      assert.equal(await store.head(k('del/keep')), null);
      assert.equal(await store.deletePrefix(k('del/a/')), 3);
      const left: string[] = [];
      for await (const o of store.list(k('del/'))) left.push(o.key);
      assert.deepEqual(left, [k('del/b/1')]);
      assert.equal(await store.deletePrefix(k('del/a/')), 0);
    });

    test('empty objects work', async () => {
      const info = await store.put(k('empty/zero'), Buffer.alloc(0));
      assert.equal(info.size, 0);
      assert.deepEqual(await store.getBuffer(k('empty/zero')), Buffer.alloc(0));
    });

    test('unsafe keys are refused before touching storage', async () => {
      for (const bad of ['../escape', `${run}/../../etc/passwd`, '/absolute', `${run}//double`, `${run}/./dot`, '', `${run}/trailing/`, `${run}/back\\slash`]) {
        await assert.rejects(
          () => store.put(bad, 'x'),
          (e: unknown) => isAppError(e) && e.code === 'bad_request',
          `put ${JSON.stringify(bad)}`,
        );
        if (bad) await assert.rejects(() => store.head(bad), (e: unknown) => isAppError(e) && e.code === 'bad_request');
      }
    });
  });
}
