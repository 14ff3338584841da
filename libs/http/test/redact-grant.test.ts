import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createServiceHttp, redactGrantInUrl } from '../src/index';

test('redactGrantInUrl cuts the grant out of media paths and leaves the rest', () => {
  assert.equal(redactGrantInUrl('/g/AWsIFabc_-XYZ/tracks/t/v1/master.m3u8?x=1'), '/g/[redacted]/tracks/t/v1/master.m3u8?x=1');
  assert.equal(redactGrantInUrl('/api/tracks?q=g'), '/api/tracks?q=g');
});

test('request logs of a service never hold the grant from the URL', async () => {
  const lines: string[] = [];
  const sink = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } });
  const logger = pino({ level: 'info' }, sink);
  const { app } = createServiceHttp({ name: 'redact-test', logger });
  app.get('/g/*', async () => ({ ok: true }));
  const grant = 'AWsIFSECRETGRANTvalue0123456789';
  const res = await app.inject({ method: 'GET', url: `/g/${grant}/tracks/x/v1/master.m3u8` });
  assert.equal(res.statusCode, 200);
  await app.close();
  const all = lines.join('');
  assert.ok(all.includes('incoming request'), 'the request was logged');
  assert.ok(all.includes('/g/[redacted]/tracks/x/v1/master.m3u8'), 'the path is still logged');
  assert.ok(!all.includes(grant), `the grant leaked into the log: ${all}`);
});
