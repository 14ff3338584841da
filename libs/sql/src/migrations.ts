/**
 * Migrations with Kysely's Migrator. The catalog owns the schema: it passes either a folder of migration
 * modules (each exporting `up(db)` and optionally `down(db)`, applied in file-name order) or a provider.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { FileMigrationProvider, Migrator, type Kysely, type MigrationProvider, type MigrationResult } from 'kysely';

export type MigrationsSource = string | MigrationProvider;

export async function runMigrations(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  db: Kysely<any>,
  source: MigrationsSource,
  opts: { migrationTableName?: string } = {},
): Promise<MigrationResult[]> {
  const provider = typeof source === 'string' ? new FileMigrationProvider({ fs, path, migrationFolder: path.resolve(source) }) : source;
  const migrator = new Migrator({
    db,
    provider,
    // Two processes starting at once (all-in-one runner + a scaled-out service) both try to migrate;
    // Kysely serialises them with an advisory lock, and the second finds nothing left to do.
    migrationTableName: opts.migrationTableName ?? 'kysely_migration',
    migrationLockTableName: `${opts.migrationTableName ?? 'kysely_migration'}_lock`,
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    const msg = error instanceof Error ? error.message : String(error);
    throw new Error(`migration ${failed?.migrationName ?? '(unknown)'} failed: ${msg}`, { cause: error });
  }
  return results ?? [];
}
