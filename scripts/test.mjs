#!/usr/bin/env node
// `npm test`: the whole suite, as CI runs it (.ci/run calls exactly this).
//  1. installs npm dependencies when missing;
//  2. starts the real services of infra/local (PostgreSQL, Redis, Kafka, MinIO) and loads .infra/env;
//  3. typecheck, lint;
//  4. every `<workspace>/test/*.test.ts` and `libs/*/test/*.test.ts` (two files at a time, each in its own
//     process with a time limit), then `e2e/*.test.ts`;
//  5. prints `N passed, N failed`, stops what step 2 started (also on failure or Ctrl-C), exits non-zero
//     on any failure.
// `npm test -- libs/bus origin` runs only test files whose path contains one of the words (checks still run
// unless SKIP_CHECKS=1). TEST_FILE_TIMEOUT (minutes, default 20) bounds each file.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);
const filters = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const fileTimeoutMs = Number(process.env.TEST_FILE_TIMEOUT ?? 20) * 60_000;
const started = Date.now();
const say = (msg) => process.stdout.write(`[test] ${msg}\n`);
const secs = (ms) => `${(ms / 1000).toFixed(1)}s`;

// ---------- 1. npm dependencies ----------
if (!existsSync(path.join(root, 'node_modules', '.package-lock.json')) || !existsSync(path.join(root, 'node_modules', 'tsx'))) {
  say('installing npm dependencies...');
  const cmd = existsSync(path.join(root, 'package-lock.json')) ? ['ci', '--no-audit', '--no-fund'] : ['install', '--no-audit', '--no-fund'];
  const r = spawnSync('npm', cmd, { stdio: 'inherit' });
  if (r.status !== 0) {
    say(`npm ${cmd[0]} failed`);
    process.stdout.write('0 passed, 1 failed\n');
    process.exit(1);
  }
}

// ---------- 2. real services ----------
const runDir = path.join(root, '.infra', 'run');
mkdirSync(runDir, { recursive: true });
const startedFile = path.join(runDir, `started-by-test-${process.pid}`);
const children = new Set();
let infraDown = false;
function stopInfra() {
  if (infraDown) return;
  infraDown = true;
  for (const c of children) killGroup(c);
  if (process.env.KEEP_INFRA === '1') {
    say('KEEP_INFRA=1: leaving the services running (bash infra/local/down.sh stops them)');
    return;
  }
  spawnSync('bash', ['infra/local/down.sh'], { stdio: 'inherit', env: { ...process.env, INFRA_STARTED_FILE: startedFile } });
}
function killGroup(child) {
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
process.on('exit', stopInfra);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    say(`${sig}: stopping`);
    stopInfra();
    process.exit(130);
  });
}

const results = []; // { name, passed, failed, ms, note }
const infraStart = Date.now();
say('starting local services (infra/local/up.sh)...');
const up = spawnSync('bash', ['infra/local/up.sh'], { stdio: 'inherit', env: { ...process.env, INFRA_STARTED_FILE: startedFile } });
if (up.status !== 0) {
  say('infra/local/up.sh failed: integration tests will fail with "not configured" messages');
  results.push({ name: 'infra/local/up.sh', passed: 0, failed: 1, ms: Date.now() - infraStart });
} else {
  say(`services ready in ${secs(Date.now() - infraStart)}`);
}
const testEnv = { ...process.env };
const envFile = path.join(root, '.infra', 'env');
if (existsSync(envFile)) {
  for (const line of readFileSync(envFile, 'utf8').split('\n')) {
    const m = /^\s*(?:export\s+)?([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) testEnv[m[1]] = m[2].replace(/^['"]|['"]$/g, '');
  }
}

// ---------- helpers ----------
function run(cmd, args, { env = testEnv, timeoutMs, capture = false } = {}) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    // Own process group, so a timeout takes down whatever the test spawned (ffmpeg, servers, brokers' clients).
    const child = spawn(cmd, args, { env, detached: true, stdio: capture ? ['ignore', 'pipe', 'pipe'] : 'inherit' });
    children.add(child);
    let out = '';
    if (capture) {
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
    }
    let timedOut = false;
    const timer = timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          killGroup(child);
        }, timeoutMs)
      : null;
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      children.delete(child);
      resolve({ code, signal, out, ms: Date.now() - t0, timedOut });
    });
  });
}

async function step(name, cmd, args) {
  say(`${name}...`);
  const r = await run(cmd, args, { env: process.env });
  const ok = r.code === 0;
  say(`${name}: ${ok ? 'ok' : 'FAILED'} (${secs(r.ms)})`);
  results.push({ name, passed: ok ? 1 : 0, failed: ok ? 0 : 1, ms: r.ms });
}

function findTests(dirs) {
  const files = [];
  for (const dir of dirs) {
    const testDir = path.join(root, dir, 'test');
    if (!existsSync(testDir)) continue;
    for (const f of readdirSync(testDir)) if (f.endsWith('.test.ts')) files.push(path.join(dir, 'test', f));
  }
  return files.filter((f) => !filters.length || filters.some((w) => f.includes(w))).sort();
}

/** Runs one test file in its own node process; counts come from the runner's closing summary. */
async function runTestFile(file) {
  const r = await run(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', file], { timeoutMs: fileTimeoutMs, capture: true });
  const plain = r.out.replace(/\x1b\[[0-9;]*m/g, '');
  // The runner's closing summary ("ℹ pass 12"): the last such line wins over any test named alike.
  const count = (label) => {
    const all = [...plain.matchAll(new RegExp(`^\\S*\\s*${label} (\\d+)\\s*$`, 'gm'))];
    return all.length ? Number(all[all.length - 1][1]) : null;
  };
  const passed = count('pass') ?? 0;
  let failed = count('fail') ?? 0;
  const cancelled = count('cancelled') ?? 0;
  failed += cancelled;
  let note = '';
  if (r.timedOut) {
    note = `timed out after ${secs(fileTimeoutMs)}`;
    failed = Math.max(failed, 1);
  } else if (r.code !== 0 && failed === 0) {
    note = `exited with ${r.code ?? r.signal} without a failing test (crash at load?)`;
    failed = 1;
  } else if (passed + failed === 0) {
    note = 'ran no test';
    failed = 1;
  }
  const ok = failed === 0;
  process.stdout.write(`\n===== ${file} (${ok ? 'ok' : 'FAILED'}, ${passed} passed, ${failed} failed, ${secs(r.ms)}${note ? `, ${note}` : ''}) =====\n`);
  process.stdout.write(r.out.endsWith('\n') ? r.out : `${r.out}\n`);
  results.push({ name: file, passed, failed, ms: r.ms, note, details: ok ? '' : failureDetails(plain) });
}

/**
 * What went wrong in a failed file, short enough to survive in the tail of a CI log: the runner's own
 * "failing tests" section when it printed one, else the last lines (a crash or a timeout).
 */
function failureDetails(plain) {
  const at = plain.lastIndexOf('failing tests:');
  const lines = (at >= 0 ? plain.slice(at) : plain).split('\n');
  const picked = at >= 0 ? lines.slice(0, 80) : lines.slice(-40);
  return picked.join('\n').trimEnd();
}

async function runPool(files, concurrency) {
  const queue = [...files];
  const workers = Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
    while (queue.length) {
      const f = queue.shift();
      say(`running ${f}`);
      await runTestFile(f);
    }
  });
  await Promise.all(workers);
}

// ---------- 3. checks ----------
if (process.env.SKIP_CHECKS !== '1') {
  await step('typecheck', 'npx', ['tsc', '-p', 'tsconfig.json', '--noEmit']);
  await step('lint', 'npx', ['eslint', '.']);
}

// ---------- 4. tests ----------
const workspaces = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).workspaces ?? [];
const unitAndIntegration = findTests(workspaces.filter((w) => w !== 'e2e' && w !== 'bench'));
say(`${unitAndIntegration.length} test files (2 at a time, ${secs(fileTimeoutMs)} limit each)`);
await runPool(unitAndIntegration, 2);
// The e2e suite lives at e2e/*.test.ts (and e2e/test/*.test.ts if it grows a folder).
const e2e = [
  ...(existsSync(path.join(root, 'e2e')) ? readdirSync(path.join(root, 'e2e')).filter((f) => f.endsWith('.test.ts')).map((f) => path.join('e2e', f)) : []),
  ...findTests(['e2e']),
].filter((f) => !filters.length || filters.some((w) => f.includes(w)));
if (e2e.length) {
  say(`${e2e.length} e2e test files`);
  await runPool(e2e, 1);
}

// ---------- 5. summary ----------
const passed = results.reduce((n, r) => n + r.passed, 0);
const failed = results.reduce((n, r) => n + r.failed, 0);
process.stdout.write('\n----- summary -----\n');
for (const r of results) {
  process.stdout.write(`${r.failed ? 'FAIL' : ' ok '}  ${r.name}  (${r.passed} passed, ${r.failed} failed, ${secs(r.ms)})${r.note ? `  ${r.note}` : ''}\n`);
}
process.stdout.write(`total time ${secs(Date.now() - started)}\n`);
stopInfra();
// After the infra lines, so the tail of a CI log shows what failed and why.
const failures = results.filter((r) => r.failed && r.details);
if (failures.length) {
  process.stdout.write('\n----- failure details -----\n');
  for (const r of failures) process.stdout.write(`>>> ${r.name}\n${r.details}\n`);
}
process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exit(failed ? 1 : 0);
