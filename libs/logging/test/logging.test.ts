import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');

/** Runs `body` in a fresh node process with createBufferedLogger in scope; returns its stdout lines, parsed. */
function linesFrom(body: string): Record<string, unknown>[] {
  const script = `import { createBufferedLogger } from ${JSON.stringify(path.join(root, 'libs/logging/src/index.ts'))};\n${body}`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('the buffered logger redacts secrets; its access logger shares the stream, unredacted, in order', () => {
  const lines = linesFrom(`
    const { logger, access, flush } = createBufferedLogger({ name: 'edge' });
    logger.info({ password: 'hunter2', req: { headers: { cookie: 'sid=abc' } }, user: { token: 't0k' } }, 'app');
    access.info({ m: 'GET', key: 'tracks/x/v1/aac_128/1.m4s', status: 200, ua: 'ua/1', cmcd: { sid: 's-1', token: 'not-ours' } }, 'access');
    logger.info({ grant: 'g.r.a.n.t' }, 'after');
    flush();
  `);
  assert.deepEqual(lines.map((l) => l.msg), ['app', 'access', 'after']);
  const [app, acc, after] = lines;
  assert.equal(app.password, '[redacted]');
  assert.deepEqual(app.req, { headers: { cookie: '[redacted]' } });
  assert.deepEqual(app.user, { token: '[redacted]' });
  assert.equal(after.grant, '[redacted]');
  // The access line keeps every field as given (no redaction pass: its caller fixes the fields; a client's own
  // CMCD keys are its data), with the same base fields as the app's lines.
  assert.equal(acc.key, 'tracks/x/v1/aac_128/1.m4s');
  assert.deepEqual(acc.cmcd, { sid: 's-1', token: 'not-ours' });
  assert.equal(acc.ua, 'ua/1');
  for (const l of lines) {
    assert.equal(l.service, 'edge');
    assert.equal(l.name, 'edge');
    assert.equal(typeof l.pid, 'number');
    assert.match(String(l.time), /^\d{4}-\d\d-\d\dT/);
  }
});

test('the access logger follows the level: below it nothing is written', () => {
  const lines = linesFrom(`
    const { logger, access, flush } = createBufferedLogger({ name: 'edge', level: 'warn' });
    access.info({ key: 'k' }, 'access');
    logger.warn('kept');
    flush();
  `);
  assert.deepEqual(lines.map((l) => l.msg), ['kept']);
});
