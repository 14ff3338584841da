/** What every service factory receives: config plus live adapters, wired once in main.ts. */
import type { Config } from '@platform/config';
import type { Logger } from '@platform/logging';
import type { Registry } from 'prom-client';
import type { Kysely } from 'kysely';
import type { ClickHouseClient } from '@clickhouse/client';
import type { ObjectStore } from '@platform/storage';
import type { Bus } from '@platform/bus';
import type { Cache } from '@platform/cache';

export interface PlatformDeps {
  config: Config;
  logger: Logger;
  metrics: Registry;
  /** Kysely over PostgreSQL; the schema type lives with the catalog (`DB` from @platform/catalog). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  sql: Kysely<any>;
  olap: ClickHouseClient;
  objects: ObjectStore;
  bus: Bus;
  cache: Cache;
}
