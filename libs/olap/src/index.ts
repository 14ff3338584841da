/**
 * Analytics store: one `@clickhouse/client` API and one SQL dialect for both a ClickHouse server
 * (CLICKHOUSE_URL) and the embedded engine (chDB through `chdb/connection`, data under DATA_DIR).
 * chDB binds one data directory per process, and closing it while a query still runs aborts the engine,
 * so close() drains pending work first.
 */
import fs from 'node:fs/promises';
import fsSync from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { createClient, type ClickHouseClient, type ClickHouseSettings } from '@clickhouse/client';
import type { Config } from '@platform/config';
import type { Logger } from '@platform/logging';

export type { ClickHouseClient };

/** Same JSON shape from both engines: 64-bit integers quoted, as a server does by default. */
const SETTINGS: ClickHouseSettings = { output_format_json_quote_64bit_integers: 1 };

export interface OlapOptions {
  /** Override the embedded data folder (default `${dataDir}/clickhouse`). */
  embeddedPath?: string;
}

export function isEmbeddedOlap(config: Pick<Config, 'CLICKHOUSE_URL'>): boolean {
  return !config.CLICKHOUSE_URL;
}

export async function createOlapClient(
  config: Pick<Config, 'CLICKHOUSE_URL' | 'dataDir'>,
  logger: Logger,
  opts: OlapOptions = {},
): Promise<ClickHouseClient> {
  if (config.CLICKHOUSE_URL) return createServerClient(config.CLICKHOUSE_URL, logger);
  return createEmbeddedClient(opts.embeddedPath ?? path.join(config.dataDir, 'clickhouse'), logger);
}

async function createServerClient(url: string, logger: Logger): Promise<ClickHouseClient> {
  const u = new URL(url);
  const database = decodeURIComponent(u.pathname.replace(/^\//, '')) || 'default';
  if (database !== 'default') {
    // The URL names our database; create it on first use so a fresh server needs no manual step.
    const bootstrapUrl = new URL(url);
    bootstrapUrl.pathname = '/';
    const admin = createClient({ url: bootstrapUrl.toString() });
    try {
      await admin.command({ query: `CREATE DATABASE IF NOT EXISTS ${quoteIdent(database)}` });
    } finally {
      await admin.close();
    }
  }
  const client = createClient({ url, clickhouse_settings: SETTINGS, request_timeout: 60_000 });
  const ping = await client.ping();
  if (!ping.success) {
    await client.close();
    throw new Error(`ClickHouse at ${u.host} does not answer: ${ping.error.message}`);
  }
  logger.info({ host: u.host, database }, 'clickhouse: connected');
  return client;
}

async function createEmbeddedClient(dir: string, logger: Logger): Promise<ClickHouseClient> {
  await fs.mkdir(dir, { recursive: true });
  // chdb is a native addon of some size: load it only when the embedded engine is actually used.
  const { createChdbConnection } = await import('chdb/connection');
  const { drainPending } = await import('chdb');
  let connection;
  try {
    connection = createChdbConnection({ path: dir });
  } catch (e) {
    throw new Error(
      `embedded ClickHouse (chDB) could not open ${dir}: ${(e as Error).message}. ` +
        'Only one process can open this folder; point other processes at CLICKHOUSE_URL or at the process that owns it.',
      { cause: e },
    );
  }
  const client = createClient({ connection, clickhouse_settings: SETTINGS } as Parameters<typeof createClient>[0]);
  embeddedConnections.set(client, connection as unknown as ChdbRawInserter);
  const closeClient = client.close.bind(client);
  let closing: Promise<void> | undefined;
  // Drain before and after closing: an aborted query keeps the engine busy after its promise settled.
  client.close = () =>
    (closing ??= (async () => {
      await drainPending();
      await closeClient();
      await drainPending();
    })());
  logger.info({ dir }, 'clickhouse: embedded chDB engine opened');
  return client;
}

function quoteIdent(name: string): string {
  return '`' + name.replace(/\\/g, '\\\\').replace(/`/g, '\\`') + '`';
}

interface ChdbRawInserter {
  chdb: {
    rawInsert(params: { table: string; values: Buffer; format: string; columns?: readonly string[]; settings?: Record<string, string | number | boolean> }): Promise<unknown>;
  };
}
const embeddedConnections = new WeakMap<ClickHouseClient, ChdbRawInserter>();

export interface RawInsert {
  table: string;
  columns: readonly string[];
  /** A line-delimited text format the caller already serialized `body` in. */
  format: 'JSONCompactEachRow' | 'JSONEachRow' | 'TabSeparated';
  body: Buffer;
  /** Settings of this insert only (never left on a session). */
  settings?: Record<string, string | number>;
}

/**
 * Insert rows the caller serialized itself. On chDB this is the engine's raw passthrough: the bytes go
 * to the native side as they are and ClickHouse's own parser reads them. `client.insert` on chDB
 * stringifies every row in JS, glues the body into the SQL text and has the SQL parser read it
 * (measured on the analytics write path: ~1.5x the CPU per row and ~3x the wall time). On a server the
 * same bytes are the HTTP body.
 */
export async function insertRaw(client: ClickHouseClient, p: RawInsert): Promise<void> {
  const embedded = embeddedConnections.get(client);
  if (embedded) {
    // Staged as a file and read FROM INFILE: handed over inline (chdb rawInsert), the payload went through
    // chDB's SQL tokenizer and a line count before the format parser saw it, ~4-5 ns per byte whatever
    // the format. Measured on the analytics rows (50k-row blocks, ~210 bytes each): 2.3-3.0 -> 1.0-1.3 us
    // of CPU per row into a Null table, 3.1-3.6 -> 2.2 us into its landing table (view to raw included).
    // Same statement settings, same one block.
    if (!RAW_FORMATS.has(p.format)) throw new Error(`insertRaw: unsupported format ${JSON.stringify(p.format)}`);
    // On Linux the file is unlinked as soon as it is open and the engine (same process) reads it through
    // /proc/self/fd: a process killed mid-insert leaves nothing behind.
    const file = path.join(stagingDir(), `insert-${process.pid}-${++stagedInserts}.${p.format}`);
    const handle = await fs.open(file, 'w+', 0o600);
    const anonymous = process.platform === 'linux';
    try {
      if (anonymous) await fs.rm(file, { force: true });
      await handle.writeFile(p.body);
      await client.command({
        query:
          `INSERT INTO ${quoteIdent(p.table)} (${p.columns.map(quoteIdent).join(', ')}) FROM INFILE ${sqlString(anonymous ? `/proc/self/fd/${handle.fd}` : file)}` +
          (p.settings && Object.keys(p.settings).length ? ` SETTINGS ${Object.entries(p.settings).map(([k, v]) => `${settingName(k)} = ${typeof v === 'number' ? sqlNumber(v) : sqlString(v)}`).join(', ')}` : '') +
          ` FORMAT ${p.format}`,
      });
    } finally {
      await handle.close();
      if (!anonymous) await fs.rm(file, { force: true });
    }
    return;
  }
  await client.insert({
    table: p.table,
    columns: p.columns as [string, ...string[]],
    format: p.format,
    values: Readable.from([p.body], { objectMode: false }),
    clickhouse_settings: p.settings,
  });
}

const RAW_FORMATS = new Set<string>(['JSONCompactEachRow', 'JSONEachRow', 'TabSeparated']);
let stagedInserts = 0;
let staging: string | undefined;
/** Where raw inserts are staged: memory-backed /dev/shm where there is one, else the temp folder. */
function stagingDir(): string {
  if (staging === undefined) {
    try {
      fsSync.accessSync('/dev/shm', fsSync.constants.W_OK);
      staging = '/dev/shm';
    } catch {
      staging = os.tmpdir();
    }
  }
  return staging;
}
const sqlString = (v: string) => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
function sqlNumber(v: number): string {
  if (!Number.isFinite(v)) throw new Error(`insertRaw: setting value ${v} is not a finite number`);
  return String(v);
}
function settingName(k: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`insertRaw: invalid setting name ${JSON.stringify(k)}`);
  return k;
}

/** Readiness: throws when the engine does not answer. */
export async function pingOlap(client: ClickHouseClient): Promise<void> {
  const r = await client.ping();
  if (!r.success) throw r.error;
}
