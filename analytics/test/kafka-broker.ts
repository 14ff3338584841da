/**
 * A dedicated single-node Kafka (KRaft) for the test that stops Kafka mid-stream: the shared test broker
 * cannot be stopped under other test files. Same jars as infra/local (fetched into .infra/cache/kafka by
 * `infra/local/up.sh`); random free ports; its own log dir, kept across stop/start so acknowledged
 * messages survive the outage as they would on a real broker restart.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tmpDir } from './harness';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

export interface DedicatedKafka {
  brokers: string[];
  /** SIGKILL: the broker process dies at once, as in a crash. */
  kill(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function startDedicatedKafka(): Promise<DedicatedKafka> {
  const libs = path.join(repoRoot, '.infra', 'cache', 'kafka', 'libs');
  if (!existsSync(libs) || !readdirSync(libs).some((f) => f.startsWith('kafka_2.13-'))) {
    throw new Error(`Kafka jars not found in ${libs}: run \`bash infra/local/up.sh\` (or \`npm test\`) once to fetch them.`);
  }
  const dir = tmpDir('analytics-kafka');
  const [port, controllerPort] = [await freePort(), await freePort()];
  const props = path.join(dir, 'server.properties');
  writeFileSync(
    props,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
      `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT',
      'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      `log.dirs=${path.join(dir, 'data')}`,
      'num.partitions=4',
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=2',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'share.coordinator.state.topic.replication.factor=1',
      'share.coordinator.state.topic.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
      'group.min.session.timeout.ms=2000',
      'auto.create.topics.enable=true',
    ].join('\n') + '\n',
  );
  const java = ['-Xms64m', '-Xmx256m', '-XX:+UseSerialGC', '-Djava.awt.headless=true', '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn', '-cp', `${libs}/*`];
  // A fixed cluster id (22 characters of base64url, as `kafka-storage random-uuid` prints).
  const fmt = spawnSync('java', [...java, 'kafka.tools.StorageTool', 'format', '-t', 'YW5hbHl0aWNzLXRlc3QtMQ', '-c', props], { encoding: 'utf8' });
  if (fmt.status !== 0) throw new Error(`formatting the dedicated Kafka failed: ${fmt.stdout}\n${fmt.stderr}`);
  let proc: ChildProcess | null = null;
  const k: DedicatedKafka = {
    brokers: [`127.0.0.1:${port}`],
    async start() {
      proc = spawn('java', [...java, 'kafka.Kafka', props], { stdio: 'ignore' });
      const end = Date.now() + 120_000;
      while (!(await portOpen(port))) {
        if (Date.now() > end) throw new Error('the dedicated Kafka did not open its port within 120 s');
        if (proc.exitCode !== null) throw new Error(`the dedicated Kafka exited (${proc.exitCode})`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    async kill() {
      const p = proc;
      proc = null;
      if (!p || p.exitCode !== null) return;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      await exited;
    },
    async close() {
      await k.kill();
    },
  };
  await k.start();
  return k;
}
