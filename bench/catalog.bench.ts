/**
 * Catalog read path: GET /api/tracks/:id and a search, requests/s and p99 latency with the document
 * cache warm vs off, in the same run, against the same database (ratio printed).
 * Real PostgreSQL/Redis when DATABASE_URL/REDIS_URL (or IT_DATABASE_URL/IT_REDIS_URL) are set, else the
 * embedded defaults (embedded PostgreSQL + in-process cache). BENCH_SECONDS (default 8) per run.
 */
import { createRequire } from 'node:module';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import { loadConfig } from '@platform/config';
import { createLogger } from '@platform/logging';
import { createMetricsRegistry, createServiceHttp } from '@platform/http';
import { createSqlDatabase, createTestDatabase, runMigrations } from '@platform/sql';
import { createCache } from '@platform/cache';
import type { PlatformDeps } from '@platform/runtime';
import { authPlugin, catalogMigrations, catalogRoutes } from '@platform/catalog';

interface AutocannonResult {
  requests: { average: number };
  latency: { p99: number; average: number };
  non2xx: number;
  errors: number;
}
type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = 16;
const TRACKS = 5000;

async function main(): Promise<void> {
  const logger = createLogger({ name: 'catalog-bench', level: 'warn' });
  const dbUrl = process.env.DATABASE_URL ?? process.env.IT_DATABASE_URL;
  const redisUrl = process.env.REDIS_URL ?? process.env.IT_REDIS_URL;
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'catalog-bench-'));
  const testDb = dbUrl ? await createTestDatabase(dbUrl, 'catalog_bench') : null;
  const config = loadConfig({ DATA_DIR: dataDir, ...(testDb ? { DATABASE_URL: testDb.url } : {}), ...(redisUrl ? { REDIS_URL: redisUrl } : {}) });
  const sqlDb = await createSqlDatabase(config, logger, { database: 'catalog_bench', maxConnections: 20 });
  const cache = await createCache(config, { keyPrefix: `bench-catalog-${process.pid}:` });
  console.log(`backend: ${testDb ? 'PostgreSQL (DATABASE_URL)' : 'embedded PostgreSQL'} + ${cache.kind} cache; ${TRACKS} tracks; ${SECONDS}s x ${CONNECTIONS} connections per run`);
  try {
    await runMigrations(sqlDb.db, catalogMigrations);
    const db = sqlDb.db;
    // Seed: 250 distinct artists (Latin, accented, Cyrillic names) with 20 published tracks each.
    const first = ['Björk', 'Мумий', 'Stereo', 'Sigur', 'Кино', 'Portis', 'Земфира', 'Röyksopp', 'Aphex', 'Сплин'];
    const second = ['Тролль', 'lab', 'Rós', 'head', 'Twin', 'Nord', 'Гуд', 'Ænima', 'Moon', 'Lux', 'Ветер', 'Ost', 'Drum', 'Café', 'Sol', 'Ива', 'Berg', 'Noir', 'Луч', 'Tide', 'Øst', 'Река', 'Fog', 'Zinc', 'Mira'];
    const artistNames = Array.from({ length: 250 }, (_, i) => `${first[i % first.length]} ${second[Math.floor(i / first.length) % second.length]}`);
    const artists = await db.insertInto('artists').values(artistNames.map((name) => ({ name }))).returning('id').execute();
    const words = ['love', 'night', 'город', 'солнце', 'jóga', 'road', 'dream', 'звезда', 'ocean', 'fire', 'glass', 'утро', 'silver', 'дождь', 'echo', 'winter', 'пламя', 'velvet', 'north', 'тишина', 'river', 'ghost', 'лето', 'signal', 'honey', 'мост', 'cobalt', 'ветер', 'paper', 'orbit', 'туман'];
    const rows = Array.from({ length: TRACKS }, (_, i) => ({
      artist_id: artists[i % artists.length].id,
      title: `${words[i % words.length]} ${words[Math.floor(i / words.length) % words.length]} ${i}`,
      status: 'ready',
      published_version: 1,
      published_at: new Date(Date.now() - i * 1000),
      duration_ms: 200_000,
      renditions: JSON.stringify([{ codec: 'aac', bitrateKbps: 128, container: 'fmp4' }]),
      loudness: JSON.stringify({ integratedLufs: -14, truePeakDb: -1, gainDb: 0 }),
    }));
    const ids: string[] = [];
    for (let i = 0; i < rows.length; i += 1000) {
      const r = await db.insertInto('tracks').values(rows.slice(i, i + 1000)).returning('id').execute();
      ids.push(...r.map((x: { id: string }) => x.id));
    }
    await sql`update artists set search_key = catalog_search_key(name)`.execute(db);
    await sql`update tracks t set search_key = catalog_search_key(concat_ws(' ', t.title, (select a.name from artists a where a.id = t.artist_id)))`.execute(db);
    await sql`analyze`.execute(db);

    const deps = { config, logger, metrics: createMetricsRegistry('bench'), sql: db, cache } as unknown as PlatformDeps;
    const start = async (cacheOn: boolean) => {
      const { app } = createServiceHttp({ name: 'bench', logger, registry: createMetricsRegistry('bench'), fastify: { disableRequestLogging: true } });
      await app.register(authPlugin(deps));
      await app.register(catalogRoutes(deps, { documentCache: { enabled: cacheOn } }));
      await app.listen({ port: 0, host: '127.0.0.1' });
      return { app, url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` };
    };
    const on = await start(true);
    const off = await start(false);

    const hot = ids.slice(0, 500);
    const queries = ['bjork twin', 'мумий тролл', 'love night', 'sigur ros', 'zvezda', 'ocaen silver', 'royksopp', 'земфира'];
    const run = async (url: string, paths: string[]) => {
      let n = 0;
      const r = await autocannon({
        url,
        connections: CONNECTIONS,
        duration: SECONDS,
        requests: [{ setupRequest: (req: Record<string, unknown>) => ({ ...req, path: paths[n++ % paths.length] }) }],
      });
      if (r.non2xx || r.errors) throw new Error(`${r.non2xx} non-2xx answers and ${r.errors} errors: the benchmark is not measuring what it claims`);
      return r;
    };
    const byId = hot.map((id) => `/api/tracks/${id}`);
    const search = queries.map((q) => `/api/tracks?q=${encodeURIComponent(q)}&limit=20`);
    // Warm the cache (and the JIT) before measuring.
    await autocannon({ url: on.url, connections: 4, amount: byId.length + search.length * 4, requests: [{ setupRequest: (req: Record<string, unknown>) => req }] });
    for (const p of [...byId, ...search]) await fetch(on.url + p);

    const results: Array<{ name: string; on: AutocannonResult; off: AutocannonResult }> = [];
    for (const [name, paths] of [['GET /api/tracks/:id', byId], ['GET /api/tracks?q= (search)', search]] as const) {
      const offR = await run(off.url, [...paths]);
      const onR = await run(on.url, [...paths]);
      results.push({ name, on: onR, off: offR });
    }
    console.log('\n| endpoint | cache | req/s | p99 ms | avg ms |\n|---|---|---|---|---|');
    for (const r of results) {
      console.log(`| ${r.name} | off | ${r.off.requests.average.toFixed(0)} | ${r.off.latency.p99} | ${r.off.latency.average.toFixed(2)} |`);
      console.log(`| ${r.name} | warm | ${r.on.requests.average.toFixed(0)} | ${r.on.latency.p99} | ${r.on.latency.average.toFixed(2)} |`);
    }
    console.log('');
    for (const r of results) {
      console.log(`${r.name}: warm/off throughput ratio ${(r.on.requests.average / r.off.requests.average).toFixed(2)}x, p99 ${r.off.latency.p99} ms -> ${r.on.latency.p99} ms`);
    }
    await on.app.close();
    await off.app.close();
  } finally {
    await cache.close();
    await sqlDb.close();
    await testDb?.drop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
