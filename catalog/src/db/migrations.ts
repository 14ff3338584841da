/**
 * The catalog schema as Kysely migrations (run by libs/sql's Migrator wrapper: `runMigrations(db,
 * catalogMigrations)`). Names sort in order of application; never edit one that has shipped, add one.
 *
 * Search keys: one IMMUTABLE SQL function, `catalog_search_key(text)`, turns any title into the form
 * that is indexed and queried: unaccented ("Björk" -> "bjork"), Cyrillic (and Ukrainian/Belarusian
 * letters) transliterated to Latin, lower-cased. Transliterating is deliberate: pg_trgm and the text
 * search parser classify letters by the database's LC_CTYPE, and a database created with the C locale
 * (common for embedded and container PostgreSQL) silently drops every Cyrillic letter from trigrams
 * and tsvectors. ASCII keys behave the same under every locale, and a Latin keyboard finds
 * "Мумий Тролль" by typing "mumiy troll".
 */
import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';

const multi: Array<[string, string]> = [
  ['щ', 'shch'], ['ж', 'zh'], ['х', 'kh'], ['ц', 'ts'], ['ч', 'ch'], ['ш', 'sh'], ['ю', 'yu'], ['я', 'ya'],
  ['ъ', ''], ['ь', ''], ['ї', 'yi'], ['є', 'ye'],
];
const single: Array<[string, string]> = [
  ['а', 'a'], ['б', 'b'], ['в', 'v'], ['г', 'g'], ['д', 'd'], ['е', 'e'], ['ё', 'e'], ['з', 'z'], ['и', 'i'],
  ['й', 'i'], ['к', 'k'], ['л', 'l'], ['м', 'm'], ['н', 'n'], ['о', 'o'], ['п', 'p'], ['р', 'r'], ['с', 's'],
  ['т', 't'], ['у', 'u'], ['ф', 'f'], ['ы', 'y'], ['э', 'e'], ['і', 'i'], ['ґ', 'g'], ['ў', 'u'],
];

function quote(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** The body of catalog_search_key, generated so the mapping above stays readable. */
export function searchKeySqlBody(): string {
  // lower() is locale-dependent for non-ASCII letters, so both cases are mapped explicitly.
  let expr = "public.unaccent('public.unaccent'::regdictionary, input)";
  for (const [from, to] of multi) {
    expr = `replace(${expr}, ${quote(from)}, ${quote(to)})`;
    expr = `replace(${expr}, ${quote(from.toUpperCase())}, ${quote(to)})`;
  }
  const from = single.map(([f]) => f).join('') + single.map(([f]) => f.toUpperCase()).join('');
  const to = single.map(([, t]) => t).join('') + single.map(([, t]) => t).join('');
  expr = `translate(${expr}, ${quote(from)}, ${quote(to)})`;
  // Collapse punctuation runs to one space so "AC/DC" and "ac dc" meet.
  return `select btrim(regexp_replace(pg_catalog.lower(${expr}), '[[:space:][:punct:]]+', ' ', 'g'))`;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDb = Kysely<any>;

const m0001: Migration = {
  async up(db: AnyDb) {
    // Both are trusted extensions (PG 13+): a database owner may create them without superuser.
    await sql`create extension if not exists pg_trgm with schema public`.execute(db);
    await sql`create extension if not exists unaccent with schema public`.execute(db);
    await sql
      .raw(
        `create or replace function public.catalog_search_key(input text) returns text
         language sql immutable strict parallel safe as $fn$ ${searchKeySqlBody()} $fn$`,
      )
      .execute(db);
  },
  async down(db: AnyDb) {
    await sql`drop function if exists public.catalog_search_key(text)`.execute(db);
  },
};

const m0002: Migration = {
  async up(db: AnyDb) {
    // Primary keys of user-owned tables lead with user_id: Citus requires the distribution column in
    // every primary/unique key of a distributed table (see catalog/README.md).
    await sql
      .raw(
        `
create table users (
  id uuid primary key default gen_random_uuid(),
  email text not null check (length(email) between 3 and 254),
  password_hash text not null,
  display_name text not null check (length(display_name) between 1 and 100),
  role text not null check (role in ('listener', 'musician', 'admin')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  password_changed_at timestamptz not null default now()
);
create unique index users_email_lower_key on users (lower(email));

create table artists (
  id uuid primary key default gen_random_uuid(),
  owner_user_id uuid references users (id) on delete set null,
  name text not null check (length(name) between 1 and 200),
  bio text,
  search_key text not null default '',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index artists_owner_idx on artists (owner_user_id, lower(name));
create index artists_search_trgm_idx on artists using gin (search_key public.gin_trgm_ops);

create table albums (
  id uuid primary key default gen_random_uuid(),
  artist_id uuid not null references artists (id) on delete cascade,
  title text not null check (length(title) between 1 and 300),
  year int check (year between 1000 and 3000),
  cover_key text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index albums_artist_title_key on albums (artist_id, lower(title));

create table tracks (
  id uuid primary key default gen_random_uuid(),
  artist_id uuid not null references artists (id) on delete cascade,
  album_id uuid references albums (id) on delete set null,
  title text not null check (length(title) between 1 and 300),
  genre text,
  track_number int check (track_number between 1 and 9999),
  year int check (year between 1000 and 3000),
  isrc text,
  status text not null default 'processing' check (status in ('processing', 'ready', 'failed')),
  error_code text,
  error_detail text,
  duration_ms int,
  loudness jsonb,
  renditions jsonb not null default '[]'::jsonb,
  current_version int not null default 1,
  published_version int,
  cover_key text,
  peaks_key text,
  original_key text,
  notes jsonb not null default '{}'::jsonb,
  search_key text not null default '',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  published_at timestamptz
);
create index tracks_artist_idx on tracks (artist_id, created_at desc, id desc);
create index tracks_album_idx on tracks (album_id, track_number, id);
create index tracks_published_idx on tracks (published_at desc, id desc) where published_version is not null;
create index tracks_search_trgm_idx on tracks using gin (search_key public.gin_trgm_ops);
create index tracks_search_fts_idx on tracks using gin (to_tsvector('simple'::regconfig, search_key));

create table api_tokens (
  user_id uuid not null references users (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  name text not null check (length(name) between 1 and 100),
  token_hash bytea not null,
  created_at timestamptz not null default now(),
  last_used_at timestamptz,
  primary key (user_id, id)
);

create table playlists (
  user_id uuid not null references users (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  name text not null check (length(name) between 1 and 200),
  description text,
  is_public boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (user_id, id)
);
-- Not unique on purpose (Citus cannot enforce uniqueness without user_id); ids are random UUIDs.
create index playlists_id_idx on playlists (id);
create index playlists_user_updated_idx on playlists (user_id, updated_at desc, id desc);

create table playlist_items (
  user_id uuid not null,
  playlist_id uuid not null,
  id uuid not null default gen_random_uuid(),
  track_id uuid not null references tracks (id) on delete cascade,
  position int not null,
  added_at timestamptz not null default now(),
  primary key (user_id, id),
  foreign key (user_id, playlist_id) references playlists (user_id, id) on delete cascade
);
create index playlist_items_order_idx on playlist_items (playlist_id, position, id);
create index playlist_items_track_idx on playlist_items (track_id);

create table likes (
  user_id uuid not null references users (id) on delete cascade,
  track_id uuid not null references tracks (id) on delete cascade,
  created_at timestamptz not null default now(),
  primary key (user_id, track_id)
);
create index likes_user_created_idx on likes (user_id, created_at desc, track_id);
create index likes_track_idx on likes (track_id);

create table follows (
  user_id uuid not null references users (id) on delete cascade,
  artist_id uuid not null references artists (id) on delete cascade,
  created_at timestamptz not null default now(),
  primary key (user_id, artist_id)
);
create index follows_user_created_idx on follows (user_id, created_at desc, artist_id);
create index follows_artist_idx on follows (artist_id);
`,
      )
      .execute(db);
  },
  async down(db: AnyDb) {
    await sql`drop table if exists follows, likes, playlist_items, playlists, api_tokens, tracks, albums, artists, users cascade`.execute(db);
  },
};

/** Tables in the order Citus needs them (referenced before referencing). */
export const CITUS_LAYOUT: ReadonlyArray<{ table: string; kind: 'reference' } | { table: string; kind: 'distributed'; column: 'user_id' }> = [
  { table: 'users', kind: 'reference' },
  { table: 'artists', kind: 'reference' },
  { table: 'albums', kind: 'reference' },
  { table: 'tracks', kind: 'reference' },
  { table: 'api_tokens', kind: 'distributed', column: 'user_id' },
  { table: 'playlists', kind: 'distributed', column: 'user_id' },
  { table: 'playlist_items', kind: 'distributed', column: 'user_id' },
  { table: 'likes', kind: 'distributed', column: 'user_id' },
  { table: 'follows', kind: 'distributed', column: 'user_id' },
];

/**
 * Distribute the catalog tables when (and only when) the citus extension is installed in this
 * database. Idempotent: tables already known to Citus are skipped, so an operator who adds Citus
 * later can call it again. Returns what it did.
 */
export async function distributeCatalogTables(db: AnyDb): Promise<{ citus: boolean; distributed: string[] }> {
  const ext = await sql<{ ok: number }>`select 1 as ok from pg_extension where extname = 'citus'`.execute(db);
  if (ext.rows.length === 0) return { citus: false, distributed: [] };
  const done: string[] = [];
  // Foreign keys to reference tables created in the same transaction need Citus' sequential mode.
  await sql`set local citus.multi_shard_modify_mode to 'sequential'`.execute(db);
  for (const entry of CITUS_LAYOUT) {
    const known = await sql<{ ok: number }>`select 1 as ok from pg_dist_partition where logicalrelid = ${entry.table}::regclass`.execute(db);
    if (known.rows.length > 0) continue;
    if (entry.kind === 'reference') {
      await sql`select create_reference_table(${entry.table})`.execute(db);
    } else {
      // All user-owned tables share one colocation group, so joins and FKs on user_id stay on one node.
      const colocate = entry.table === 'api_tokens' ? 'default' : 'api_tokens';
      await sql`select create_distributed_table(${entry.table}, ${entry.column}, colocate_with => ${colocate})`.execute(db);
    }
    done.push(entry.table);
  }
  return { citus: true, distributed: done };
}

const m0003: Migration = {
  async up() {
    // Superseded by 0005: distribution runs after every schema change of this release, so Citus never
    // has to propagate an ALTER of a freshly distributed table inside the same transaction.
  },
};

const m0005: Migration = {
  async up(db: AnyDb) {
    await distributeCatalogTables(db);
  },
  async down() {
    // Undistributing (undistribute_table) is an operator decision, not a migration rollback.
  },
};

const m0004: Migration = {
  async up(db: AnyDb) {
    // A stored tsvector: ranking evaluates `@@` on every candidate row, and recomputing to_tsvector per
    // row doubled the cost of a broad search (measured: 43 ms -> 23 ms for 1000 candidates).
    await sql
      .raw(
        `alter table tracks add column search_tsv tsvector generated always as (to_tsvector('simple'::regconfig, search_key)) stored;
         create index tracks_search_tsv_idx on tracks using gin (search_tsv);
         drop index if exists tracks_search_fts_idx;`,
      )
      .execute(db);
  },
  async down(db: AnyDb) {
    await sql.raw(`create index if not exists tracks_search_fts_idx on tracks using gin (to_tsvector('simple'::regconfig, search_key));
      alter table tracks drop column if exists search_tsv;`).execute(db);
  },
};

export const CATALOG_MIGRATIONS: Record<string, Migration> = {
  '0001_search_functions': m0001,
  '0002_catalog_tables': m0002,
  '0003_citus_distribution': m0003,
  '0004_search_tsvector': m0004,
  '0005_citus_distribution': m0005,
};

/** Kysely MigrationProvider for the catalog schema. */
export const catalogMigrations: MigrationProvider = {
  async getMigrations() {
    return CATALOG_MIGRATIONS;
  },
};
