/**
 * Bus contract: the same cases, unchanged, against the in-process bus and a real Kafka (IT_KAFKA_BROKERS),
 * plus a Kafka-only case where the consuming process is killed (SIGKILL) in the middle of a batch.
 * Topic and group names are unique to this run. Waiting is by polling up to a deadline, never a timed assertion.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { createLogger } from '@platform/logging';
import { KafkaBus, MemoryBus, partitionForKey, type Bus, type Consumer, type ReceivedMessage } from '../src/index';

function requireEnv(name: string): string {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set: this contract test needs the real service. Run \`npm test\` (it starts infra/local), or \`bash infra/local/up.sh && source .infra/env\` first.`);
  }
  return v;
}

async function eventually(what: string, check: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const logger = createLogger({ name: 'bus-contract', level: 'error' });
const run = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
let seq = 0;
const uniqueTopic = (what: string) => `contract.${run}.${what}.${seq++}`;

const implementations: [string, () => Bus][] = [
  ['memory', () => new MemoryBus(logger, 3)],
  ['kafka', () => new KafkaBus({ brokers: requireEnv('IT_KAFKA_BROKERS').split(','), clientId: `contract-${run}`, defaultPartitions: 3 }, logger)],
];

for (const [name, make] of implementations) {
  describe(`Bus contract: ${name}`, () => {
    let bus: Bus;
    const consumers: Consumer[] = [];
    before(() => {
      bus = make();
    });
    after(async () => {
      await Promise.all(consumers.map((c) => c.stop().catch(() => undefined)));
      await bus?.close();
    });

    test('ping answers', async () => {
      await bus.ping();
    });

    test('every group gets every message once, keyed messages keep their order and partition', async () => {
      const topic = uniqueTopic('groups');
      await bus.ensureTopic(topic, { partitions: 3 });
      const keys = ['track-a', 'track-b', 'track-c', 'track-d', 'track-e'];
      const sent = Array.from({ length: 30 }, (_, i) => ({ key: keys[i % keys.length], value: `${keys[i % keys.length]}:${i}`, headers: { n: String(i) } }));
      await bus.send(topic, sent.slice(0, 15));
      const byGroup: Record<string, ReceivedMessage[]> = { g1: [], g2: [] };
      for (const g of Object.keys(byGroup)) {
        consumers.push(
          await bus.subscribe({
            topic,
            groupId: `${run}-${g}`,
            eachBatch: async (messages) => {
              byGroup[g].push(...messages);
            },
          }),
        );
      }
      await bus.send(topic, sent.slice(15));
      for (const g of Object.keys(byGroup)) {
        await eventually(`group ${g} receiving 30 messages`, () => byGroup[g].length >= 30);
        const got = byGroup[g];
        assert.equal(got.length, 30, `group ${g} got each message once`);
        assert.deepEqual(got.map((m) => m.value.toString()).sort(), sent.map((m) => m.value).sort());
        for (const key of keys) {
          const values = got.filter((m) => m.key === key).map((m) => Number(m.value.toString().split(':')[1]));
          assert.deepEqual(values, [...values].sort((a, b) => a - b), `order of ${key}`);
          for (const m of got.filter((x) => x.key === key)) {
            assert.equal(m.partition, partitionForKey(key, 3), `partition of ${key}`);
            assert.equal(m.topic, topic);
            assert.equal(m.headers.n, m.value.toString().split(':')[1]);
            assert.ok(m.timestamp > 0);
          }
        }
      }
    });

    test('batches never exceed maxBatchSize', async () => {
      const topic = uniqueTopic('batches');
      await bus.ensureTopic(topic, { partitions: 1 });
      await bus.send(topic, Array.from({ length: 23 }, (_, i) => ({ key: 'k', value: String(i) })));
      const sizes: number[] = [];
      const values: string[] = [];
      consumers.push(
        await bus.subscribe({
          topic,
          groupId: `${run}-batches`,
          maxBatchSize: 4,
          eachBatch: async (messages) => {
            sizes.push(messages.length);
            values.push(...messages.map((m) => m.value.toString()));
          },
        }),
      );
      await eventually('23 messages', () => values.length >= 23);
      assert.ok(sizes.every((s) => s >= 1 && s <= 4), `batch sizes ${sizes.join(',')}`);
      assert.deepEqual(values, Array.from({ length: 23 }, (_, i) => String(i)));
    });

    test('partitionsConsumedConcurrently: batches of several partitions are in the handler at once; order and once-delivery hold', async () => {
      const topic = uniqueTopic('concurrent');
      await bus.ensureTopic(topic, { partitions: 3 });
      // Keys landing on three different partitions.
      const keys: string[] = [];
      for (let i = 0; keys.length < 3; i++) if (!keys.some((k) => partitionForKey(k, 3) === partitionForKey(`k${i}`, 3))) keys.push(`k${i}`);
      const sent = Array.from({ length: 60 }, (_, i) => ({ key: keys[i % 3], value: `${keys[i % 3]}:${i}` }));
      await bus.send(topic, sent);
      const got: ReceivedMessage[] = [];
      let inHandler = 0;
      let maxInHandler = 0;
      consumers.push(
        await bus.subscribe({
          topic,
          groupId: `${run}-concurrent`,
          partitionsConsumedConcurrently: 3,
          eachBatch: async (messages) => {
            inHandler++;
            maxInHandler = Math.max(maxInHandler, inHandler);
            // Hold each batch until another partition's batch has joined (or a while has passed): the
            // coalescing pattern of a writer that gathers batches before one insert.
            const until = Date.now() + 3000;
            while (maxInHandler < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
            got.push(...messages);
            inHandler--;
          },
        }),
      );
      await eventually('60 messages', () => got.length >= 60);
      assert.equal(got.length, 60);
      assert.ok(maxInHandler >= 2, `batches of different partitions overlapped (max ${maxInHandler} at once)`);
      for (const key of keys) {
        const values = got.filter((m) => m.key === key).map((m) => Number(m.value.toString().split(':')[1]));
        assert.deepEqual(values, [...values].sort((a, b) => a - b), `order of ${key}`);
      }
    });

    test('a batch whose handler throws is delivered again; nothing is lost or skipped', async () => {
      const topic = uniqueTopic('retry');
      await bus.ensureTopic(topic, { partitions: 1 });
      await bus.send(topic, Array.from({ length: 10 }, (_, i) => ({ key: 'k', value: String(i) })));
      let failuresLeft = 2;
      const attempts: string[][] = [];
      const handled: string[] = [];
      consumers.push(
        await bus.subscribe({
          topic,
          groupId: `${run}-retry`,
          maxBatchSize: 3,
          retryBackoffMs: 50,
          eachBatch: async (messages) => {
            const values = messages.map((m) => m.value.toString());
            attempts.push(values);
            if (values.includes('4') && failuresLeft > 0) {
              failuresLeft--;
              throw new Error('downstream unavailable');
            }
            handled.push(...values);
          },
        }),
      );
      await eventually('all 10 handled', () => handled.length >= 10);
      assert.deepEqual(handled, Array.from({ length: 10 }, (_, i) => String(i)), 'each handled once, in order');
      assert.equal(attempts.filter((a) => a.includes('4')).length, 3, 'the failing batch came back until it succeeded');
    });

    test('a consumer stopped in the middle of a batch leaves it uncommitted: the next member gets it again', async () => {
      const topic = uniqueTopic('handover');
      await bus.ensureTopic(topic, { partitions: 1 });
      await bus.send(topic, Array.from({ length: 12 }, (_, i) => ({ key: 'k', value: String(i) })));
      const group = `${run}-handover`;
      const committedByA: string[] = [];
      let heldByA: string[] = [];
      let signalMid!: () => void;
      const mid = new Promise<void>((r) => (signalMid = r));
      let crash!: (e: Error) => void;
      const crashed = new Promise<never>((_, reject) => (crash = reject));
      crashed.catch(() => undefined);
      let batches = 0;
      const a = await bus.subscribe({
        topic,
        groupId: group,
        maxBatchSize: 4,
        retryBackoffMs: 50,
        sessionTimeoutMs: 6000,
        eachBatch: async (messages) => {
          const values = messages.map((m) => m.value.toString());
          if (++batches === 1) {
            committedByA.push(...values);
            return;
          }
          heldByA = values;
          signalMid();
          await crashed; // dies mid-batch: the handler never succeeds
        },
      });
      await mid;
      const stopping = a.stop();
      crash(new Error('worker crashed mid-batch'));
      await stopping;
      assert.deepEqual(committedByA, ['0', '1', '2', '3']);
      assert.deepEqual(heldByA, ['4', '5', '6', '7']);

      const gotByB: string[] = [];
      consumers.push(
        await bus.subscribe({
          topic,
          groupId: group,
          maxBatchSize: 4,
          sessionTimeoutMs: 6000,
          eachBatch: async (messages) => {
            gotByB.push(...messages.map((m) => m.value.toString()));
          },
        }),
      );
      await eventually('the next member receiving 4..11', () => gotByB.length >= 8);
      assert.deepEqual(gotByB, ['4', '5', '6', '7', '8', '9', '10', '11'], 'uncommitted messages again, committed ones not, none lost');
    });

    test('a handler that outlasts the session timeout keeps its partition (no duplicate delivery)', async () => {
      const topic = uniqueTopic('long');
      await bus.ensureTopic(topic, { partitions: 1 });
      await bus.send(topic, Array.from({ length: 6 }, (_, i) => ({ key: 'k', value: String(i) })));
      const deliveries: string[] = [];
      let first = true;
      consumers.push(
        await bus.subscribe({
          topic,
          groupId: `${run}-long`,
          maxBatchSize: 3,
          sessionTimeoutMs: 3000,
          eachBatch: async (messages) => {
            deliveries.push(...messages.map((m) => m.value.toString()));
            if (first) {
              first = false;
              // Longer than the session timeout: a member that stopped heartbeating would lose the partition.
              await new Promise((r) => setTimeout(r, 5000));
            }
          },
        }),
      );
      await eventually('all 6 delivered', () => deliveries.length >= 6);
      await new Promise((r) => setTimeout(r, 1000)); // room for a wrongful redelivery to show up
      assert.deepEqual(deliveries, ['0', '1', '2', '3', '4', '5']);
    });

    if (name === 'kafka') {
      test('a consumer process killed mid-batch: after restart the group gets the uncommitted messages, none lost', async () => {
        const brokers = requireEnv('IT_KAFKA_BROKERS');
        const topic = uniqueTopic('killed');
        const group = `${run}-killed`;
        await bus.ensureTopic(topic, { partitions: 1 });
        await bus.send(topic, Array.from({ length: 20 }, (_, i) => ({ key: 'k', value: String(i) })));

        const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'kafka-consumer-child.ts'), brokers, topic, group], {
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        const events: { event: string; offsets?: string[] }[] = [];
        let buf = '';
        child.stdout.on('data', (d: Buffer) => {
          buf += d.toString();
          let i;
          while ((i = buf.indexOf('\n')) >= 0) {
            events.push(JSON.parse(buf.slice(0, i)));
            buf = buf.slice(i + 1);
          }
        });
        const exited = new Promise<void>((r) => child.on('exit', () => r()));
        try {
          await eventually('the child holding its second batch', () => events.some((e) => e.event === 'holding'), 90_000);
        } finally {
          child.kill('SIGKILL');
          await exited;
        }
        const committed = events.find((e) => e.event === 'committed')?.offsets ?? [];
        const held = events.find((e) => e.event === 'holding')?.offsets ?? [];
        assert.deepEqual(committed, ['0', '1', '2', '3', '4']);
        assert.deepEqual(held, ['5', '6', '7', '8', '9']);

        const got: ReceivedMessage[] = [];
        consumers.push(
          await bus.subscribe({
            topic,
            groupId: group,
            sessionTimeoutMs: 6000,
            eachBatch: async (messages) => {
              got.push(...messages);
            },
          }),
        );
        // The broker hands the partition over once the dead member's session (6 s) has expired.
        await eventually('the restarted consumer receiving offsets 5..19', () => got.length >= 15, 90_000);
        assert.deepEqual(
          got.map((m) => m.offset),
          Array.from({ length: 15 }, (_, i) => String(i + 5)),
          'starts at the first uncommitted offset (the batch held by the killed process) and loses nothing',
        );
      });
    }
  });
}

describe('Kafka bus: a broker that comes up after the process', () => {
  test('a failed first connect is not remembered: ping fails while nothing listens, then succeeds', async () => {
    const [host, port] = requireEnv('IT_KAFKA_BROKERS').split(',')[0].split(':');
    // A port with nothing behind it yet; later a plain TCP forwarder to the real broker opens on it (the
    // broker's metadata then points the client at the broker itself).
    const free = net.createServer();
    await new Promise<void>((r) => free.listen(0, '127.0.0.1', r));
    const proxyPort = (free.address() as net.AddressInfo).port;
    await new Promise((r) => free.close(r));
    const bus = new KafkaBus({ brokers: [`127.0.0.1:${proxyPort}`], clientId: `contract-${run}-late`, retry: { retries: 1, initialRetryTime: 50, maxRetryTime: 100 } }, logger);
    const links = new Set<net.Socket>();
    const proxy = net.createServer((client) => {
      const up = net.connect(Number(port), host);
      links.add(client).add(up);
      client.pipe(up).pipe(client);
      client.on('error', () => up.destroy());
      up.on('error', () => client.destroy());
    });
    try {
      await assert.rejects(bus.ping(), 'no broker yet');
      await new Promise<void>((r) => proxy.listen(proxyPort, '127.0.0.1', r));
      await bus.ping();
      const topic = uniqueTopic('late');
      await bus.send(topic, [{ key: 'k', value: 'after the broker came up' }]);
    } finally {
      await bus.close();
      for (const s of links) s.destroy();
      await new Promise((r) => proxy.close(r));
    }
  });
});
