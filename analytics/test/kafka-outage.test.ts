/**
 * Kafka stopped mid-stream, on a dedicated broker this test starts, SIGKILLs and restarts (the shared
 * test broker must stay up for the other files). Collector and consumer both talk to it.
 *
 * What it proves: while the broker is down the collector keeps answering 202 from its bounded buffer,
 * then 503 with Retry-After once the buffer is full; the consumer waits; after the broker comes back
 * the buffer drains and the consumer resumes, and distinct events in ClickHouse == events accepted,
 * with nothing written twice. (Needs the Kafka jars fetched by infra/local; fails clearly otherwise.)
 */
import { test } from 'node:test';
import { createHook } from 'node:async_hooks';
import assert from 'node:assert/strict';
import type { BeaconProducer } from '../src/index';
import { event, listening, postBeacons, scalar, sessionId, startHarness, waitFor, waitForEvents } from './harness';
import { startDedicatedKafka } from './kafka-broker';

test('Kafka killed mid-stream: buffer, then 503 + Retry-After; after restart nothing lost, nothing doubled', async (t) => {
  // Where each timer was made, so that one still alive after close() names its maker in the failure
  // (a cleared timer's destroy event can come late: `_destroyed`, node's own flag, says it is gone).
  const timers = new Map<number, { timer: WeakRef<object>; at: string }>();
  const stackOf = () => (new Error().stack ?? '').split('\n').filter((l) => l.includes(' at ') && !l.includes('node:internal')).slice(2, 9).join('\n');
  const hook = createHook({
    init: (id, type, _trigger, resource) => void (type === 'Timeout' && timers.set(id, { timer: new WeakRef(resource as object), at: stackOf() })),
    destroy: (id) => void timers.delete(id),
  }).enable();
  const liveTimers = () => [...timers.values()].filter((v) => (v.timer.deref() as { _destroyed?: boolean } | undefined)?._destroyed === false).map((v) => v.at);
  t.after(() => hook.disable());
  const kafka = await startDedicatedKafka();
  let producer: BeaconProducer | null = null;
  const h = await startHarness({
    name: 'kafka-outage',
    bus: 'kafka',
    brokers: kafka.brokers,
    routes: { maxBufferedEvents: 600, sendTimeoutMs: 1500, sessionRequestsPerMinute: 1e9, closeTimeoutMs: 2000, onProducer: (p) => (producer = p) },
    consumer: { sessionTimeoutMs: 6000 },
  });
  let closed = false;
  try {
    let accepted = 0;
    let views = 0;
    const postView = async () => {
      const r = await postBeacons(h.url, listening(sessionId(), 'outage-track', { untilMs: 40_000, end: 'ended' }));
      if (r.status === 202) {
        accepted += Number(r.body.accepted);
        views++;
      }
      return r;
    };
    for (let i = 0; i < 20; i++) assert.equal((await postView()).status, 202);
    await waitForEvents(h.olap, accepted);

    await kafka.kill();
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 200 && !statuses.includes(503); i++) {
      const r = await postView();
      statuses.push(r.status);
      if (r.status === 202) assert.equal(r.body.buffered, true, 'accepted while Kafka is down means buffered');
      if (r.status === 503) retryAfter = r.headers.get('retry-after');
    }
    assert.ok(statuses.includes(503), 'the buffer filled up and the collector said 503');
    assert.ok(Number(retryAfter) > 0, 'with Retry-After');
    assert.ok(statuses.filter((s) => s === 202).length >= 5, 'it buffered before refusing');
    t.diagnostic(`while Kafka was down: ${statuses.filter((s) => s === 202).length} x 202 (buffered), then 503; buffer ${producer!.bufferedEvents} events`);
    assert.ok(producer!.bufferedEvents <= 600);

    await kafka.start();
    await waitFor('the collector buffer to drain', async () => producer!.bufferedEvents === 0 && producer!.isHealthy, 180_000);
    for (let i = 0; i < 10; i++) assert.equal((await postView()).status, 202);
    // One more single event, to be sure the path is whole end to end.
    const last = await postBeacons(h.url, [event(sessionId(), 'outage-probe', 'heartbeat', 1000)]);
    assert.equal(last.status, 202);
    accepted += 1;
    await waitForEvents(h.olap, accepted, 180_000);
    assert.equal(await scalar(h.olap, 'SELECT uniqExact(eventId) FROM playback_events'), accepted, 'distinct events == accepted');
    assert.equal(await scalar(h.olap, 'SELECT count() FROM playback_events'), accepted, 'no row written twice');
    assert.equal(await scalar(h.olap, "SELECT count() FROM plays WHERE trackId = 'outage-track'"), views);
    assert.equal(await scalar(h.olap, 'SELECT sum(events) FROM qoe_1m'), accepted, 'the views got every event exactly once');
    assert.equal(await scalar(h.olap, 'SELECT sum(playingMs) FROM qoe_1m'), views * 40_000);
    // Closing leaves nothing behind for long: no send still retrying inside the Kafka client, no consumer
    // restarting after its crash (either connects again and keeps the process alive), no socket, no timer.
    // Connections finish closing within a second or two.
    await h.close();
    closed = true;
    const lingering = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'Timeout');
    for (let i = 0; i < 100 && lingering().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(lingering(), [], `10 s after close: ${JSON.stringify(process.getActiveResourcesInfo())}; timers made at:\n${liveTimers().join('\n--\n')}`);
  } finally {
    if (!closed) await h.close();
    await kafka.close();
  }
});
