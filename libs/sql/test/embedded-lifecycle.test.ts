/**
 * Embedded PostgreSQL lifecycle edge cases: a cluster orphaned by a SIGKILLed platform process is adopted
 * (and stopped on close) by the next start on the same directory; a busy port, and two instances starting
 * at once from the same first port, fall through to free ports.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createLogger } from '@platform/logging';
import { startEmbeddedPostgres } from '../src/index';

const logger = createLogger({ name: 'sql-embedded-lifecycle', level: 'error' });
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** Running (a zombie waiting for its reaper has exited). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

async function query(url: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<{ one: number }>('SELECT 1 AS one')).rows[0].one;
  } finally {
    await c.end();
  }
}

test('a cluster left running by a SIGKILLed process is adopted by the next start and stopped on close', async () => {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'sql-orphan-'));
  const pgDir = path.join(dataDir, 'postgres');
  try {
    // A separate "platform" process starts the cluster, reports its port, then is SIGKILLed.
    const script = `
      const { startEmbeddedPostgres } = await import('@platform/sql');
      const { createLogger } = await import('@platform/logging');
      const h = await startEmbeddedPostgres({ dir: ${JSON.stringify(pgDir)}, database: 'orphan', logger: createLogger({ name: 'child', level: 'error' }), portFrom: 15433 });
      process.stdout.write(JSON.stringify({ port: h.port, owned: h.owned }) + '\\n');
      setInterval(() => undefined, 1000);
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
    const first = await new Promise<{ port: number; owned: boolean }>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d) => {
        out += String(d);
        if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]));
      });
      child.once('exit', (code) => reject(new Error(`child exited (${code}) before starting PostgreSQL`)));
    });
    assert.equal(first.owned, true);
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    const pid = Number((await fs.readFile(path.join(pgDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    assert.ok(isAlive(pid), 'the orphaned postmaster is still running');

    const adopted = await startEmbeddedPostgres({ dir: pgDir, database: 'orphan', logger, portFrom: 15433 });
    assert.equal(adopted.port, first.port, 'reuses the running cluster');
    assert.equal(adopted.owned, true, 'adopts the orphan');
    // A second handle in this (live) process shares it and leaves it running.
    const shared = await startEmbeddedPostgres({ dir: pgDir, database: 'orphan', logger, portFrom: 15433 });
    assert.equal(shared.owned, false);
    await shared.stop();
    assert.equal(await query(adopted.url), 1);

    await adopted.stop();
    assert.equal(isAlive(pid), false, 'the adopted postmaster was stopped');
    assert.equal(existsSync(path.join(pgDir, 'postmaster.pid')), false, 'clean shutdown removed postmaster.pid');
  } finally {
    await fs.rm(dataDir, { recursive: true, force: true });
  }
});

test('a busy first port and two instances starting at once fall through to free ports', async () => {
  const dirs = await Promise.all([0, 1].map(() => fs.mkdtemp(path.join(os.tmpdir(), 'sql-ports-'))));
  // Something else (another platform's PostgreSQL, say) already holds the first port.
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen({ port: 0, host: '127.0.0.1' }, r));
  const busy = (blocker.address() as net.AddressInfo).port;
  const handles: Awaited<ReturnType<typeof startEmbeddedPostgres>>[] = [];
  try {
    const started = await Promise.allSettled(dirs.map((d) => startEmbeddedPostgres({ dir: path.join(d, 'postgres'), database: 'ports', logger, portFrom: busy })));
    for (const s of started) if (s.status === 'fulfilled') handles.push(s.value);
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    const [a, b] = handles;
    assert.notEqual(a.port, busy);
    assert.notEqual(b.port, busy);
    assert.notEqual(a.port, b.port);
    assert.equal(await query(a.url), 1);
    assert.equal(await query(b.url), 1);
  } finally {
    await Promise.all(handles.map((h) => h.stop()));
    blocker.close();
    await Promise.all(dirs.map((d) => fs.rm(d, { recursive: true, force: true })));
  }
});
