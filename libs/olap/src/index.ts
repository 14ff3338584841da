/**
 * Analytics store: one `@clickhouse/client` API and one SQL dialect for both a ClickHouse server
 * (CLICKHOUSE_URL) and the embedded engine (chDB through `chdb/connection`, data under DATA_DIR).
 * chDB binds one data directory per process, and closing it while a query still runs aborts the engine,
 * so close() drains pending work first.
 */
import fs from 'node:fs/promises';
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
    await embedded.chdb.rawInsert({ table: p.table, values: p.body, format: p.format, columns: p.columns, settings: p.settings });
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

/** Readiness: throws when the engine does not answer. */
export async function pingOlap(client: ClickHouseClient): Promise<void> {
  const r = await client.ping();
  if (!r.success) throw r.error;
}
