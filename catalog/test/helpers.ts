/* eslint-disable @typescript-eslint/no-explicit-any -- response bodies are checked field by field by the assertions */
/**
 * Test harness: a real Fastify app (createServiceHttp + the catalog plugins) listening on port 0,
 * against either the real services (IT_DATABASE_URL + IT_REDIS_URL, one fresh database and one
 * Redis key prefix per app) or the embedded defaults (embedded PostgreSQL + in-process cache).
 * A tiny typed client with a cookie jar drives it the way a browser or a script would.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '@platform/config';
import { createLogger } from '@platform/logging';
import { createMetricsRegistry, createServiceHttp } from '@platform/http';
import { createSqlDatabase, createTestDatabase, runMigrations } from '@platform/sql';
import { MemoryCache, RedisCache, type Cache } from '@platform/cache';
import { createObjectStore } from '@platform/storage';
import type { PlatformDeps } from '@platform/runtime';
import type { Registry } from 'prom-client';
import { authPlugin, catalogMigrations, catalogRoutes, createTrack, invalidateTrack, markTrackReady, type AuthOptions, type CatalogRoutesOptions } from '../src/index';

export type Backend = 'real' | 'embedded';

export interface TestApp {
  baseUrl: string;
  deps: PlatformDeps;
  cache: Cache;
  registry: Registry;
  client(): Client;
  close(): Promise<void>;
}

function requireEnv(name: string): string {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set: this test needs the real service. Run it through \`npm test\` (which starts infra/local), or \`bash infra/local/up.sh && source .infra/env\` first.`);
  }
  return v;
}

export interface StartOptions {
  backend?: Backend;
  auth?: AuthOptions;
  routes?: CatalogRoutesOptions;
  /** Share an already migrated database/cache between apps (e.g. cache on vs off in one test). */
  reuse?: { deps: PlatformDeps };
}

export async function startApp(opts: StartOptions = {}): Promise<TestApp> {
  const backend = opts.backend ?? 'real';
  const logger = createLogger({ name: 'catalog-test', level: (process.env.TEST_LOG_LEVEL as 'silent') ?? 'silent' });
  const registry = createMetricsRegistry('catalog-test');
  const cleanups: Array<() => Promise<void>> = [];
  let deps: PlatformDeps;
  if (opts.reuse) {
    deps = { ...opts.reuse.deps, metrics: registry };
  } else {
    let config = loadConfig({});
    let sqlDb;
    let cache: Cache;
    if (backend === 'real') {
      const base = requireEnv('IT_DATABASE_URL');
      const redisUrl = requireEnv('IT_REDIS_URL');
      const tdb = await createTestDatabase(base, 'catalog');
      cleanups.push(() => tdb.drop());
      config = loadConfig({ DATABASE_URL: tdb.url, REDIS_URL: redisUrl });
      sqlDb = await createSqlDatabase(config, logger);
      const redis = await new RedisCache(redisUrl, { keyPrefix: `t-catalog-${randomBytes(4).toString('hex')}:` }).connect();
      cache = redis;
      cleanups.push(async () => {
        // Remove this app's keys so the shared Redis stays clean.
        const prefix = redis.client.options.keyPrefix ?? '';
        const keys = await redis.client.keys(`${prefix}*`);
        if (keys.length) await redis.client.call('DEL', ...keys);
        await redis.close();
      });
    } else {
      const dataDir = await mkdtemp(path.join(os.tmpdir(), 'catalog-embedded-'));
      cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
      config = loadConfig({ DATA_DIR: dataDir });
      sqlDb = await createSqlDatabase(config, logger, { database: 'catalog' });
      cache = new MemoryCache();
      cleanups.push(() => cache.close());
    }
    cleanups.push(() => sqlDb.close());
    await runMigrations(sqlDb.db, catalogMigrations);
    // Objects on the filesystem adapter: the catalog only deletes media of deleted tracks.
    const objectsDir = await mkdtemp(path.join(os.tmpdir(), 'catalog-objects-'));
    cleanups.push(() => rm(objectsDir, { recursive: true, force: true }));
    const objects = await createObjectStore({ ...loadConfig({ DATA_DIR: objectsDir }) });
    cleanups.push(() => objects.close());
    deps = { config, logger, metrics: registry, sql: sqlDb.db, cache, objects } as unknown as PlatformDeps;
  }
  const { app } = createServiceHttp({ name: 'catalog-test', logger, registry });
  // Test files sign up many accounts from one address; the sign-up limit has its own test.
  await app.register(authPlugin(deps, { signupLimit: { perIp: 10_000, windowMs: 3_600_000 }, ...opts.auth }));
  await app.register(catalogRoutes(deps, opts.routes));
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  const baseUrl = `http://127.0.0.1:${port}`;
  return {
    baseUrl,
    deps,
    cache: deps.cache,
    registry,
    client: () => new Client(baseUrl),
    close: async () => {
      await app.close();
      for (const c of cleanups.reverse()) await c();
    },
  };
}

export interface Res<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/** Browser-like client: keeps cookies, echoes the csrf cookie unless told not to; or uses a Bearer token. */
export class Client {
  cookies = new Map<string, string>();
  token: string | null = null;
  sendCsrf = true;
  me: { id: string; artistId: string | null; role: string; email: string } | null = null;

  constructor(readonly baseUrl: string) {}

  async req<T = any>(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Res<T>> {
    const h: Record<string, string> = { ...headers };
    if (body !== undefined && typeof body !== 'string') h['content-type'] = 'application/json';
    if (this.cookies.size) h.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (this.sendCsrf && this.cookies.has('csrf') && !['GET', 'HEAD'].includes(method)) h['x-csrf-token'] = this.cookies.get('csrf')!;
    if (this.token) h.authorization = `Bearer ${this.token}`;
    const res = await fetch(this.baseUrl + url, { method, headers: h, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1).trim();
      const expired = attrs.some((a) => /expires=thu, 01 jan 1970/i.test(a.trim()) || /^max-age=0$/i.test(a.trim()));
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      /* keep text */
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  }

  get = <T = any>(url: string) => this.req<T>('GET', url);
  post = <T = any>(url: string, body?: unknown) => this.req<T>('POST', url, body ?? {});
  put = <T = any>(url: string, body?: unknown) => this.req<T>('PUT', url, body);
  patch = <T = any>(url: string, body?: unknown) => this.req<T>('PATCH', url, body);
  del = <T = any>(url: string) => this.req<T>('DELETE', url);

  async signup(role: 'listener' | 'musician', displayName = `${role} ${randomBytes(3).toString('hex')}`, password = 'correct horse battery'): Promise<this> {
    const email = `${role}-${randomBytes(6).toString('hex')}@example.test`;
    const r = await this.post('/api/auth/signup', { email, password, displayName, role });
    if (r.status !== 201) throw new Error(`signup failed: ${r.status} ${JSON.stringify(r.body)}`);
    this.me = r.body;
    return this;
  }
}

/** An admin account: admins are made by operators (no signup role), so promote one in SQL and log in again. */
export async function makeAdmin(t: TestApp): Promise<Client> {
  const c = await t.client().signup('listener', 'Admin');
  await t.deps.sql.updateTable('users').set({ role: 'admin' }).where('id', '=', c.me!.id).execute();
  const email = c.me!.email;
  c.cookies.clear();
  const r = await c.post('/api/auth/login', { email, password: 'correct horse battery' });
  if (r.status !== 200) throw new Error(`admin login failed: ${r.status}`);
  c.me = r.body;
  return c;
}

/** A published track owned by the musician `owner` (what the packager would leave behind). */
export async function publishedTrack(t: TestApp, owner: Client, input: { title: string; album?: string; genre?: string; artistName?: string }): Promise<string> {
  const { id, version } = await createTrack(t.deps.sql, {
    ...(input.artistName ? { ownerUserId: owner.me!.id, artistName: input.artistName } : { artistId: owner.me!.artistId! }),
    title: input.title,
    albumTitle: input.album ?? null,
    genre: input.genre ?? null,
  });
  await markTrackReady(t.deps.sql, {
    trackId: id,
    version,
    durationMs: 180_000,
    loudness: { integratedLufs: -14.2, truePeakDb: -1.1, gainDb: 0.2 },
    renditions: [{ codec: 'aac', bitrateKbps: 128, container: 'fmp4' }],
  });
  // What the packager does after publishing: drop the cached document and list pages.
  await invalidateTrack(t.cache, id);
  return id;
}

export async function draftTrack(t: TestApp, owner: Client, title: string): Promise<string> {
  const { id } = await createTrack(t.deps.sql, { artistId: owner.me!.artistId!, title });
  await invalidateTrack(t.cache, id);
  return id;
}

/** A problem+json answer with the given status and code; `field` must be named in the detail. */
export function expectProblem(r: Res, status: number, code: string, field?: string): void {
  const where = `${status} ${code}${field ? ` (${field})` : ''}, got ${r.status} ${JSON.stringify(r.body)}`;
  if (r.status !== status || r.body?.code !== code) throw new Error(`expected ${where}`);
  if (!/application\/problem\+json/.test(r.headers.get('content-type') ?? '')) throw new Error(`expected problem+json for ${where}`);
  if (typeof r.body.detail !== 'string' || !r.body.detail) throw new Error(`expected a detail sentence for ${where}`);
  if (field && !String(r.body.detail).includes(field)) throw new Error(`expected the detail to name ${field}: ${r.body.detail}`);
}
