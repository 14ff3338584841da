/** The embedded cache keeps sessions across a restart: only the persisted prefixes, TTLs kept, expired entries dropped. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MemoryCache } from '../src/index';

describe('MemoryCache persistence (embedded sessions survive a restart)', () => {
  const dirs: string[] = [];
  const tmp = async () => {
    const d = await mkdtemp(path.join(os.tmpdir(), 'cache-persist-'));
    dirs.push(d);
    return path.join(d, 'cache', 'sessions.json');
  };
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('close writes the persisted keys; a new cache reads them back with their TTL', async () => {
    const file = await tmp();
    const persist = { file, keyPrefixes: ['sess:', 'user-sessions:'] };
    const a = new MemoryCache({ persist });
    await a.set('sess:1', '{"user":"u1"}', 60_000);
    await a.set('sess:forever', 'x');
    await a.set('sess:short', 'gone soon', 30);
    await a.sadd('user-sessions:u1', 'sess:1', 'sess:2');
    await a.set('doc:track:1', 'not persisted', 60_000);
    await a.close();

    await new Promise((r) => setTimeout(r, 60)); // sess:short expires while the process is down
    const b = new MemoryCache({ persist });
    assert.equal(await b.get('sess:1'), '{"user":"u1"}');
    assert.equal(await b.get('sess:forever'), 'x');
    assert.equal(await b.get('sess:short'), null, 'an entry that expired while down is not restored');
    assert.deepEqual((await b.smembers('user-sessions:u1')).sort(), ['sess:1', 'sess:2']);
    assert.equal(await b.get('doc:track:1'), null, 'other keys are not persisted');
    // A session deleted (logout) before the next restart stays deleted.
    await b.del('sess:1');
    await b.close();
    const c = new MemoryCache({ persist });
    assert.equal(await c.get('sess:1'), null, 'a logout before the restart stays a logout');
    assert.equal(await c.get('sess:forever'), 'x');
    await c.close();
  });

  it('a crash loses at most one interval: changes are written in the background', async () => {
    const file = await tmp();
    const persist = { file, keyPrefixes: ['sess:'], intervalMs: 20 };
    const a = new MemoryCache({ persist });
    await a.set('sess:9', 'alive', 60_000);
    await new Promise((r) => setTimeout(r, 150));
    // No close(): as if the process was killed. The file already holds the session.
    const onDisk = JSON.parse(await readFile(file, 'utf8')) as Array<{ k: string; exp?: number }>;
    const entry = onDisk.find((e) => e.k === 'sess:9');
    assert.ok(entry && entry.exp! > Date.now() && entry.exp! <= Date.now() + 60_000, `written with its expiry: ${JSON.stringify(onDisk)}`);
    const b = new MemoryCache({ persist });
    assert.equal(await b.get('sess:9'), 'alive');
    await b.close();
    await a.close();
  });

  it('an unreadable file starts empty instead of failing', async () => {
    const file = await tmp();
    const a = new MemoryCache({ persist: { file, keyPrefixes: ['sess:'] } });
    await a.set('sess:1', 'v');
    await a.close();
    const { writeFile } = await import('node:fs/promises');
    await writeFile(file, '{not json');
    const b = new MemoryCache({ persist: { file, keyPrefixes: ['sess:'] } });
    assert.equal(await b.get('sess:1'), null);
    await b.set('sess:2', 'w');
    await b.close();
    assert.ok((await readFile(file, 'utf8')).includes('sess:2'), 'the next write replaces the damaged file');
  });
});
