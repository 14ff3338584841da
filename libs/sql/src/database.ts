/** createSqlDatabase: a Kysely instance over a pg Pool, on DATABASE_URL or on embedded PostgreSQL. */
import path from 'node:path';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Config } from '@platform/config';
import type { Logger } from '@platform/logging';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from './embedded';

export interface SqlDatabase {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  db: Kysely<any>;
  pool: pg.Pool;
  /** Connection URL (contains the password: never log it). */
  url: string;
  /** True when this process runs (or reuses) the embedded cluster. */
  isEmbedded: boolean;
  /** Drains the pool, then stops the embedded cluster if this process started it. */
  close(): Promise<void>;
}

export interface SqlOptions {
  /** Pool size per process (default 10). */
  maxConnections?: number;
  /** Database created and used on the embedded cluster (default `platform`). */
  database?: string;
}

/** URL with the password replaced, for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<unparseable url>';
  }
}

export async function createSqlDatabase(
  config: Pick<Config, 'DATABASE_URL' | 'dataDir'>,
  logger: Logger,
  opts: SqlOptions = {},
): Promise<SqlDatabase> {
  let embedded: EmbeddedPostgresHandle | undefined;
  let url = config.DATABASE_URL;
  if (!url) {
    embedded = await startEmbeddedPostgres({ dir: path.join(config.dataDir, 'postgres'), database: opts.database ?? 'platform', logger });
    url = embedded.url;
  }
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.maxConnections ?? 10,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    application_name: 'music-platform',
  });
  // An idle client losing its server (restart, failover) emits 'error' on the pool; unhandled it would
  // crash the process. The next query gets a fresh connection or a clear error instead.
  let closed = false;
  pool.on('error', (err) => {
    if (!closed) logger.warn({ err }, 'postgres: idle connection failed');
  });
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
  try {
    await pool.query('SELECT 1');
  } catch (e) {
    await db.destroy().catch(() => undefined);
    await embedded?.stop().catch(() => undefined);
    throw new Error(`PostgreSQL at ${redactUrl(url)} does not answer: ${(e as Error).message}`, { cause: e });
  }
  logger.info({ url: redactUrl(url), embedded: Boolean(embedded) }, 'postgres: connected');
  return {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    db: db as Kysely<any>,
    pool,
    url,
    isEmbedded: Boolean(embedded),
    close: async () => {
      if (closed) return;
      closed = true;
      await db.destroy(); // ends the pool
      await embedded?.stop();
    },
  };
}
