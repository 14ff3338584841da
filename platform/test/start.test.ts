/**
 * `npm start` on embedded defaults: every service answers /healthz and /readyz, and SIGTERM stops the
 * whole process tree cleanly (embedded PostgreSQL included).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(url: string, deadline: number): Promise<Response> {
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(url);
      if (r.ok) return r;
      last = new Error(`${url} -> ${r.status} ${await r.text()}`);
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} did not answer 200 in time: ${String(last)}`);
}

test('npm start serves web, edge and origin probes on embedded defaults and stops on SIGTERM', { timeout: 180_000 }, async () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'platform-start-'));
  const [web, edge, origin] = [await freePort(), await freePort(), await freePort()];
  const child = spawn('npm', ['start'], {
    cwd: root,
    env: { ...process.env, DATA_DIR: dataDir, WEB_PORT: String(web), EDGE_PORT: String(edge), ORIGIN_PORT: String(origin), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    // First boot initialises PostgreSQL and ClickHouse data directories; the bound is 60 s.
    const deadline = Date.now() + 90_000;
    for (const port of [web, edge, origin]) {
      const r = await waitFor(`http://127.0.0.1:${port}/healthz`, deadline);
      assert.equal((await r.json()).status, 'ok');
      const ready = await waitFor(`http://127.0.0.1:${port}/readyz`, deadline);
      assert.equal((await ready.json()).status, 'ok');
      const metrics = await fetch(`http://127.0.0.1:${port}/metrics`);
      assert.match(await metrics.text(), /process_cpu_user_seconds_total/);
    }
    const home = await fetch(`http://127.0.0.1:${web}/`);
    assert.equal(home.status, 200);
    assert.match(home.headers.get('content-type') ?? '', /text\/html/);
    const problem = await fetch(`http://127.0.0.1:${web}/api/nothing-here`);
    assert.equal(problem.status, 404);
    assert.equal(problem.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.equal((await problem.json()).code, 'not_found');
  } finally {
    process.kill(-child.pid!, 'SIGTERM');
    const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 30_000))]);
    if (code === 'hung') process.kill(-child.pid!, 'SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
    assert.notEqual(code, 'hung', `did not stop within 30 s after SIGTERM\n${output.slice(-2000)}`);
  }
});
