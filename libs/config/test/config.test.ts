import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ConfigError, loadConfig, parseDuration, parseSize } from '../src/index';

test('unset variables give the embedded defaults, frozen', () => {
  const c = loadConfig({});
  assert.equal(c.WEB_PORT, 8080);
  assert.equal(c.EDGE_PORT, 8081);
  assert.equal(c.ORIGIN_PORT, 8082);
  assert.equal(c.DATABASE_URL, undefined);
  assert.equal(c.hasS3, false);
  assert.equal(c.TRUST_PROXY_HOPS, 0);
  assert.equal(c.UPLOAD_MAX_BYTES, 2 * 1024 ** 3);
  assert.equal(c.dataDir, path.resolve('./.data'));
  assert.ok(Object.isFrozen(c));
});

test('empty strings count as unset', () => {
  assert.equal(loadConfig({ DATABASE_URL: '' }).DATABASE_URL, undefined);
});

test('a bad value names the variable in one line', () => {
  for (const [env, name] of [
    [{ DATABASE_URL: 'nonsense' }, 'DATABASE_URL'],
    [{ REDIS_URL: 'http://x' }, 'REDIS_URL'],
    [{ WEB_PORT: 'eighty' }, 'WEB_PORT'],
    [{ MEDIA_SIGNING_KEYS: 'k1' }, 'MEDIA_SIGNING_KEYS'],
    [{ UPLOAD_MAX_BYTES: 'lots' }, 'UPLOAD_MAX_BYTES'],
    [{ TRUST_PROXY_HOPS: 'yes' }, 'TRUST_PROXY_HOPS'],
    [{ S3_ENDPOINT: 'http://127.0.0.1:9000' }, 'S3_ACCESS_KEY'],
  ] as const) {
    assert.throws(() => loadConfig(env), (e: unknown) => e instanceof ConfigError && e.message.includes(name) && !e.message.includes('\n'));
  }
});

test('signing keys, lists, sizes and durations are parsed', () => {
  const c = loadConfig({ MEDIA_SIGNING_KEYS: 'k2:0123456789abcdef0123,k1:fedcba9876543210fedc', KAFKA_BROKERS: 'a:9092, b:9092' });
  assert.deepEqual(c.MEDIA_SIGNING_KEYS?.map((k) => k.kid), ['k2', 'k1']);
  assert.deepEqual(c.KAFKA_BROKERS, ['a:9092', 'b:9092']);
  assert.deepEqual([c.EDGE_KEEPALIVE_TIMEOUT, c.EDGE_HEADERS_TIMEOUT, c.EDGE_REQUEST_TIMEOUT], [65_000, 10_000, 30_000]);
  assert.equal(loadConfig({ EDGE_KEEPALIVE_TIMEOUT: '75s' }).EDGE_KEEPALIVE_TIMEOUT, 75_000);
  assert.throws(() => loadConfig({ EDGE_HEADERS_TIMEOUT: 'soon' }), /EDGE_HEADERS_TIMEOUT/);
  assert.equal(parseSize('1.5KiB'), 1536);
  assert.equal(parseSize('2GiB'), 2147483648);
  assert.equal(parseDuration('15m'), 900_000);
  assert.equal(parseDuration('250ms'), 250);
  assert.throws(() => parseDuration('soon'));
});

test('the platform process ends at once with one line when a variable is bad', () => {
  const root = path.resolve(import.meta.dirname, '../../..');
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'platform/src/main.ts')], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: 'nonsense' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.notEqual(r.status, 0);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /DATABASE_URL/);
});
