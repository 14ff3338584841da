/**
 * POST /api/beacons: the schema, garbage handling (a 4xx, never a 500), sendBeacon's text/plain,
 * per-event dropping, rate limiting, server-side enrichment (user id, server time) and the bounded
 * buffer when the bus does not acknowledge. Memory bus + chDB; the unreachable-Kafka case uses a
 * real kafkajs client pointed at a closed port.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { KafkaBus } from '@platform/bus';
import { ZBeaconEvent, BEACON_MAX_EVENTS } from '@platform/models';
import { analyticsRoutes } from '../src/index';
import { createServiceHttp } from '@platform/http';
import type { AddressInfo } from 'node:net';
import { event, listening, postBeacons, scalar, sessionId, startHarness, waitForEvents, type Harness } from './harness';

describe('beacon schema', () => {
  test('accepts the CONTRACT shape and any UUID version', () => {
    const e = event(sessionId(), 'track-1', 'heartbeat', 1000, { rendition: { codec: 'opus', bitrateKbps: 96 }, bufferMs: 12000, edgeId: 'edge-1', cmcd: { br: 96, sid: 'x', custom: 'k' } });
    assert.equal(ZBeaconEvent.safeParse(e).success, true);
    assert.equal(ZBeaconEvent.safeParse({ ...e, eventId: '3b241101-e2bb-4255-8caf-4136c566a962' }).success, true);
  });
  test('refuses wrong types, unknown event types, versions and out-of-range numbers', () => {
    const e = event(sessionId(), 'track-1', 'heartbeat', 1000);
    for (const bad of [
      { ...e, v: 2 },
      { ...e, eventId: 'not-a-uuid' },
      { ...e, type: 'explode' },
      { ...e, positionMs: -1 },
      { ...e, positionMs: 1.5 },
      { ...e, ts: 'yesterday' },
      { ...e, sessionId: 'short' },
      { ...e, trackId: '../../etc/passwd' },
      { ...e, rendition: { codec: 'aac' } },
      { ...e, startupMs: 1e12 },
      { ...e, cmcd: { br: { nested: true } } },
    ]) {
      assert.equal(ZBeaconEvent.safeParse(bad).success, false, JSON.stringify(bad));
    }
  });
});

describe('POST /api/beacons (memory bus, chDB)', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ name: 'http', routes: { sessionRequestsPerMinute: 5 } });
  });
  after(async () => h.close());

  test('a valid batch is 202 and lands in ClickHouse with server time and the signed-in user', async () => {
    const s = sessionId();
    h.signIn({ id: '0190b6b0-1111-7000-8000-000000000001' });
    const events = listening(s, 'track-a', { untilMs: 20_000 });
    const before = Date.now();
    const r = await postBeacons(h.url, events);
    h.signIn(null);
    assert.equal(r.status, 202);
    assert.deepEqual(r.body, { accepted: events.length, rejected: 0, buffered: false });
    await waitForEvents(h.olap, events.length);
    assert.equal(await scalar(h.olap, `SELECT uniqExact(userId) FROM playback_events WHERE sessionId = '${s}' AND userId = '0190b6b0-1111-7000-8000-000000000001'`), 1);
    const received = await scalar(h.olap, `SELECT toUnixTimestamp64Milli(min(receivedAt)) FROM playback_events WHERE sessionId = '${s}'`);
    assert.ok(received >= before - 1000 && received <= Date.now() + 1000, 'receivedAt is the server clock');
  });

  test('sendBeacon text/plain bodies are accepted', async () => {
    const events = [event(sessionId(), 'track-b', 'play_start', 0)];
    const r = await postBeacons(h.url, [], { contentType: 'text/plain;charset=UTF-8', raw: JSON.stringify({ events }) });
    assert.equal(r.status, 202);
    assert.equal(r.body.accepted, 1);
  });

  test('invalid events are dropped one by one and counted; the rest is accepted', async () => {
    const s = sessionId();
    const good = [event(s, 'track-c', 'play_start', 0), event(s, 'track-c', 'heartbeat', 10_000)];
    const r = await postBeacons(h.url, [good[0], { junk: true }, { ...good[1], type: 'nope' }, good[1], good[1], null, 42]);
    assert.equal(r.status, 202);
    assert.equal(r.body.accepted, 2);
    assert.equal(r.body.rejected, 5, 'four invalid, one duplicate id inside the request');
    const metrics = await h.metrics.metrics();
    assert.match(metrics, /beacon_events_total\{outcome="invalid"[^}]*\} [1-9]/);
  });

  test('garbage never gets a 500', async () => {
    const s = sessionId();
    const cases: Array<{ raw: string; contentType?: string }> = [
      { raw: '' },
      { raw: 'not json' },
      { raw: 'not json', contentType: 'text/plain' },
      { raw: '[]' },
      { raw: 'null' },
      { raw: '"events"' },
      { raw: '{"events": "x"}' },
      { raw: '{"events": []}' },
      { raw: '{"events": [null]}' },
      { raw: '{"events": [{"__proto__": {"admin": true}}]}' },
      { raw: '{"events": [{"constructor": {"prototype": {"x": 1}}}]}' },
      { raw: JSON.stringify({ events: Array.from({ length: BEACON_MAX_EVENTS + 1 }, () => event(s, 't', 'heartbeat', 0)) }) },
      { raw: JSON.stringify({ events: [event(s, 't', 'heartbeat', 0, { errorCode: 'x'.repeat(70_000) })] }) },
      { raw: '{"events": [1e999]}' },
      { raw: '{"events": [{"v":1,"eventId":"00000000-0000-0000-0000-000000000000","sessionId":"aaaaaaaa","trackId":"t","type":"heartbeat","ts":-5,"positionMs":0}]}' },
      { raw: '\u0000\u0001\u0002', contentType: 'application/octet-stream' },
      { raw: 'a=b&c=d', contentType: 'application/x-www-form-urlencoded' },
      { raw: '{"events": [' + '['.repeat(5000) + ']'.repeat(5000) + ']}' },
    ];
    // Deterministic pseudo-random junk objects, too.
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const junkValue = (d: number): unknown => {
      const k = Math.floor(rnd() * 7);
      if (d > 3 || k === 0) return Math.floor(rnd() * 1e6) - 5e5;
      if (k === 1) return 'x'.repeat(Math.floor(rnd() * 50));
      if (k === 2) return null;
      if (k === 3) return rnd() > 0.5;
      if (k === 4) return [junkValue(d + 1), junkValue(d + 1)];
      const base = event(s, 'track-j', 'heartbeat', 0) as unknown as Record<string, unknown>;
      const keys = Object.keys(base);
      const o: Record<string, unknown> = { ...base };
      o[keys[Math.floor(rnd() * keys.length)]] = junkValue(d + 1);
      return o;
    };
    for (let i = 0; i < 60; i++) cases.push({ raw: JSON.stringify({ events: [junkValue(0), junkValue(0)] }) });
    for (const c of cases) {
      const r = await postBeacons(h.url, [], { raw: c.raw, contentType: c.contentType });
      assert.ok(r.status < 500, `${r.status} for ${c.raw.slice(0, 80)}: ${JSON.stringify(r.body).slice(0, 200)}`);
      if (r.status >= 400) assert.equal(typeof r.body.code, 'string', 'problem+json with a code');
    }
  });

  test('per-session rate limit: 429 with Retry-After once the session is over its budget', async () => {
    const s = sessionId();
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 7; i++) {
      const r = await postBeacons(h.url, [event(s, 'track-r', 'heartbeat', i * 10_000)]);
      statuses.push(r.status);
      if (r.status === 429) retryAfter = r.headers.get('retry-after');
    }
    assert.deepEqual(statuses, [202, 202, 202, 202, 202, 429, 429]);
    assert.ok(Number(retryAfter) > 0);
    // Another session is not affected.
    assert.equal((await postBeacons(h.url, [event(sessionId(), 'track-r', 'heartbeat', 0)])).status, 202);
  });

  test('charts are served from the cache (stale-while-revalidate): back-to-back requests share one computation', async () => {
    const a = await fetch(`${h.url}/api/charts/top?window=7d&limit=5`).then((r) => r.json());
    const b = await fetch(`${h.url}/api/charts/top?window=7d&limit=5`).then((r) => r.json());
    assert.equal(a.window, '7d');
    assert.equal(b.generatedAt, a.generatedAt, 'the second answer came from the cache');
    assert.ok(await h.cache.get('analytics:charts:top:7d:5'));
  });

  test('events with a client clock far ahead are stored at server time; very old ones are refused', async () => {
    const s = sessionId();
    const ahead = event(s, 'track-t', 'heartbeat', 0, { ts: Date.now() + 86400_000 });
    const old = event(s, 'track-t', 'heartbeat', 0, { ts: Date.now() - 8 * 86400_000 });
    const r = await postBeacons(h.url, [ahead, old]);
    assert.equal(r.status, 202);
    assert.equal(r.body.accepted, 1);
    await waitForEvents(h.olap, 1);
    await waitFor(h, `SELECT count() FROM playback_events WHERE sessionId = '${s}'`, 1);
    const skew = await scalar(h.olap, `SELECT abs(toUnixTimestamp64Milli(eventTime) - toUnixTimestamp64Milli(receivedAt)) FROM playback_events WHERE sessionId = '${s}'`);
    assert.equal(skew, 0);
  });
});

async function waitFor(h: Harness, query: string, n: number): Promise<void> {
  const end = Date.now() + 30_000;
  while ((await scalar(h.olap, query)) < n) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${query} >= ${n}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('bus not acknowledging (kafkajs pointed at a closed port)', () => {
  test('accepted events are buffered up to the bound, then 503 with Retry-After', async () => {
    const h = await startHarness({ name: 'nobus', consumer: false });
    // A second app on the same chDB but with a real Kafka client that can never connect.
    const deadBus = new KafkaBus({ brokers: ['127.0.0.1:1'], clientId: 'dead' }, h.logger);
    const { app } = createServiceHttp({ name: 'analytics-dead-bus', logger: h.logger, registry: h.metrics });
    let producer: import('../src/index').BeaconProducer | null = null;
    await app.register(
      analyticsRoutes(
        { ...h, bus: deadBus },
        { topic: h.topic, maxBufferedEvents: 25, sendTimeoutMs: 300, closeTimeoutMs: 500, migrate: false, onProducer: (p) => (producer = p) },
      ),
    );
    await app.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    try {
      const statuses: number[] = [];
      let accepted = 0;
      let retryAfter: string | null = null;
      for (let i = 0; i < 8; i++) {
        const r = await postBeacons(url, Array.from({ length: 5 }, (_, k) => event(sessionId(), 'track-x', 'heartbeat', k * 1000)));
        statuses.push(r.status);
        if (r.status === 202) {
          accepted += Number(r.body.accepted);
          assert.equal(r.body.buffered, true);
        }
        if (r.status === 503) retryAfter = r.headers.get('retry-after');
      }
      assert.equal(accepted, 25, 'exactly the bound was accepted');
      assert.deepEqual(statuses, [202, 202, 202, 202, 202, 503, 503, 503]);
      assert.ok(Number(retryAfter) > 0);
      assert.equal(producer!.bufferedEvents, 25);
      assert.equal(producer!.isHealthy, false);
    } finally {
      await app.close();
      const t0 = Date.now();
      await deadBus.close().catch(() => undefined);
      h.logger.info({ ms: Date.now() - t0 }, 'dead bus closed');
      await h.close();
    }
  });
});
