/**
 * Accounts and sessions. Owns: password hashing (argon2id), cookie sessions in the cache adapter
 * (sliding expiry, a per-user set of session ids so logout/password change can revoke them), API
 * tokens (only a SHA-256 of the secret is stored), CSRF double-submit on cookie-authenticated writes,
 * and login rate limits. `authPlugin` applies app-wide: every later route plugin sees request.user.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import fastifyCookie from '@fastify/cookie';
import { hash as argonHash, verify as argonVerify } from '@node-rs/argon2';
import { sql } from 'kysely';
import { AppError } from '@platform/errors';
import { parseOr400 } from '@platform/http';
import type { PlatformDeps } from '@platform/runtime';
import type { Cache } from '@platform/cache';
import {
  ZChangePasswordRequest, ZCreateTokenRequest, ZIdParams, ZLoginRequest, ZSignupRequest, ZUpdateMeRequest, type TMe,
} from '@platform/models';
import { requireUser, type Role, type SessionUser } from './auth-context';
import { asCatalogDb, type CatalogDb } from './db/schema';
import { catalogMetrics } from './metrics';

export interface AuthOptions {
  /** Session lifetime since last use (default config.SESSION_TTL). */
  sessionTtlMs?: number;
  /**
   * Login limits per window: `perIp` attempts (any account) per client IP; `perAccountIp` failures for
   * one account from one IP; `perAccount` failures for one account across all IPs (much higher: once
   * reached, each IP gets a single failed guess at that account for the rest of the window).
   */
  loginLimits?: { perIp: number; perAccountIp: number; perAccount: number; windowMs: number };
  /** Sign-ups allowed per client IP per window. */
  signupLimit?: { perIp: number; windowMs: number };
}

const DEFAULT_LOGIN_LIMITS = { perIp: 30, perAccountIp: 10, perAccount: 100, windowMs: 15 * 60_000 };
const DEFAULT_SIGNUP_LIMIT = { perIp: 20, windowMs: 60 * 60_000 };
/** Re-send the cookies (pushing their Max-Age forward) at most this often. */
const COOKIE_REFRESH_MS = 24 * 3600_000;

// OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane. @node-rs/argon2's Algorithm is a const enum
// (not importable under isolatedModules): 2 is Argon2id.
const ARGON = { algorithm: 2, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

export function hashPassword(password: string): Promise<string> {
  return argonHash(password, ARGON as unknown as Parameters<typeof argonHash>[1]);
}

let dummyHash: Promise<string> | undefined;
/** Verify, spending the same time whether or not the account exists (no user enumeration by timing). */
export async function verifyPassword(storedHash: string | null, password: string): Promise<boolean> {
  if (storedHash === null) {
    dummyHash ??= hashPassword('timing-equaliser-not-a-password');
    await argonVerify(await dummyHash, password).catch(() => false);
    return false;
  }
  return argonVerify(storedHash, password).catch(() => false);
}

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

// ---- sessions ------------------------------------------------------------------------------

interface StoredSession {
  user: Omit<SessionUser, 'sessionId' | 'via'>;
  csrf: string;
  createdAt: number;
  cookieSetAt: number;
}

// Keys hold a hash of the session id, so a leaked cache dump does not hand out live sessions.
const sessionKey = (sid: string) => `catalog:sess:${sha256(sid).toString('hex')}`;
const userSessionsKey = (userId: string) => `catalog:user-sessions:${userId}`;

export class SessionStore {
  constructor(private readonly cache: Cache, readonly ttlMs: number) {}

  async create(user: StoredSession['user']): Promise<{ sid: string; csrf: string }> {
    const sid = randomBytes(32).toString('base64url');
    const csrf = randomBytes(24).toString('base64url');
    const now = Date.now();
    const s: StoredSession = { user, csrf, createdAt: now, cookieSetAt: now };
    await this.cache.set(sessionKey(sid), JSON.stringify(s), this.ttlMs);
    await this.cache.sadd(userSessionsKey(user.id), sessionKey(sid));
    // The index outlives every session in it; entries whose session expired are pruned on revoke.
    await this.cache.expire(userSessionsKey(user.id), this.ttlMs * 2);
    return { sid, csrf };
  }

  async get(sid: string): Promise<StoredSession | null> {
    const raw = await this.cache.get(sessionKey(sid));
    if (!raw) return null;
    try {
      return JSON.parse(raw) as StoredSession;
    } catch {
      return null;
    }
  }

  /** Sliding expiry: each authenticated request pushes the deadline forward. */
  async touch(sid: string, s: StoredSession, rewrite: boolean): Promise<void> {
    if (rewrite) await this.cache.set(sessionKey(sid), JSON.stringify(s), this.ttlMs);
    else await this.cache.expire(sessionKey(sid), this.ttlMs);
  }

  async destroy(sid: string, userId: string): Promise<void> {
    await this.cache.del(sessionKey(sid));
    await this.cache.srem(userSessionsKey(userId), sessionKey(sid));
  }

  /** Revoke every session of a user (password change, account changes by an admin). */
  async destroyAll(userId: string): Promise<number> {
    const keys = await this.cache.smembers(userSessionsKey(userId));
    if (keys.length) await this.cache.del(...keys);
    await this.cache.del(userSessionsKey(userId));
    return keys.length;
  }

  /** Rewrite the user snapshot in every live session (display name change). */
  async updateUser(user: StoredSession['user']): Promise<void> {
    const keys = await this.cache.smembers(userSessionsKey(user.id));
    for (const key of keys) {
      const raw = await this.cache.get(key);
      if (!raw) {
        await this.cache.srem(userSessionsKey(user.id), key);
        continue;
      }
      const s = JSON.parse(raw) as StoredSession;
      await this.cache.set(key, JSON.stringify({ ...s, user }), this.ttlMs);
    }
  }
}

// ---- rate limits ---------------------------------------------------------------------------

/** Fixed-window counter; returns seconds to wait when over the limit, else 0. */
async function hit(cache: Cache, key: string, limit: number, windowMs: number, count = true): Promise<number> {
  const window = Math.floor(Date.now() / windowMs);
  const k = `catalog:rl:${key}:${window}`;
  const n = count ? await cache.incr(k, windowMs) : Number((await cache.get(k)) ?? 0);
  if (n > limit || (!count && n >= limit)) return Math.max(1, Math.ceil(((window + 1) * windowMs - Date.now()) / 1000));
  return 0;
}

function rateLimited(retryAfter: number, what: string): AppError {
  return new AppError('rate_limited', `Too many ${what}; try again in ${retryAfter} seconds.`, { retryAfter });
}

// ---- users ---------------------------------------------------------------------------------

async function loadSessionUser(db: CatalogDb, userId: string): Promise<StoredSession['user'] | null> {
  const row = await db
    .selectFrom('users as u')
    .select(['u.id', 'u.email', 'u.display_name', 'u.role'])
    .select((eb) =>
      eb
        .selectFrom('artists as a')
        .select('a.id')
        .whereRef('a.owner_user_id', '=', 'u.id')
        .orderBy('a.created_at')
        .limit(1)
        .as('artist_id'),
    )
    .where('u.id', '=', userId)
    .executeTakeFirst();
  if (!row) return null;
  return { id: row.id, email: row.email, displayName: row.display_name, role: row.role as Role, artistId: (row.artist_id as string | null) ?? null };
}

function toMe(u: StoredSession['user']): TMe {
  return { id: u.id, email: u.email, displayName: u.displayName, role: u.role, artistId: u.artistId };
}

// ---- API tokens ----------------------------------------------------------------------------

// `mpt_<userId>_<tokenId>_<secret>`: the ids route the lookup to one row (and, on Citus, one shard:
// api_tokens is distributed by user_id); only SHA-256(secret) is stored and compared in constant time.
const TOKEN_RE = /^mpt_([0-9a-f]{32})_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$/;
const hexToUuid = (h: string) => `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;

export async function createApiToken(db: CatalogDb, userId: string, name: string) {
  const secret = randomBytes(32).toString('base64url');
  const row = await db
    .insertInto('api_tokens')
    .values({ user_id: userId, name, token_hash: sha256(secret) })
    .returning(['id', 'name', 'created_at', 'last_used_at'])
    .executeTakeFirstOrThrow();
  const token = `mpt_${userId.replace(/-/g, '')}_${row.id.replace(/-/g, '')}_${secret}`;
  return { id: row.id, name: row.name, createdAt: new Date(row.created_at).toISOString(), lastUsedAt: null, token };
}

async function userFromToken(db: CatalogDb, token: string): Promise<SessionUser | null> {
  const m = TOKEN_RE.exec(token);
  if (!m) return null;
  const userId = hexToUuid(m[1]);
  const tokenId = hexToUuid(m[2]);
  const row = await db
    .selectFrom('api_tokens')
    .select(['token_hash', 'last_used_at'])
    .where('user_id', '=', userId)
    .where('id', '=', tokenId)
    .executeTakeFirst();
  if (!row) return null;
  const presented = sha256(m[3]);
  if (row.token_hash.length !== presented.length || !timingSafeEqual(row.token_hash, presented)) return null;
  const user = await loadSessionUser(db, userId);
  if (!user) return null;
  // Coarse last-used stamp (at most hourly) so a busy script does not write on every request.
  if (!row.last_used_at || Date.now() - new Date(row.last_used_at).getTime() > 3600_000) {
    await db.updateTable('api_tokens').set({ last_used_at: new Date() }).where('user_id', '=', userId).where('id', '=', tokenId).execute();
  }
  return { ...user, sessionId: tokenId, via: 'token' };
}

// ---- the plugin ----------------------------------------------------------------------------

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Set `csrf: false` on a route that must accept cookie-carrying writes without the header (beacons). */
    csrf?: boolean;
  }
}

export function authPlugin(deps: PlatformDeps, opts: AuthOptions = {}): FastifyPluginAsync {
  const db = asCatalogDb(deps.sql);
  const sessions = new SessionStore(deps.cache, opts.sessionTtlMs ?? deps.config.SESSION_TTL);
  const loginLimits = opts.loginLimits ?? DEFAULT_LOGIN_LIMITS;
  const signupLimit = opts.signupLimit ?? DEFAULT_SIGNUP_LIMIT;
  const metrics = catalogMetrics(deps.metrics);

  function setSessionCookies(request: FastifyRequest, reply: FastifyReply, sid: string, csrf: string): void {
    const secure = request.protocol === 'https';
    const maxAge = Math.floor(sessions.ttlMs / 1000);
    reply.setCookie('sid', sid, { path: '/', httpOnly: true, sameSite: 'lax', secure, maxAge });
    // Readable by the page, which echoes it in x-csrf-token (double submit).
    reply.setCookie('csrf', csrf, { path: '/', httpOnly: false, sameSite: 'lax', secure, maxAge });
  }

  function clearSessionCookies(reply: FastifyReply): void {
    reply.clearCookie('sid', { path: '/' });
    reply.clearCookie('csrf', { path: '/' });
  }

  async function startSession(request: FastifyRequest, reply: FastifyReply, user: StoredSession['user']): Promise<void> {
    const { sid, csrf } = await sessions.create(user);
    setSessionCookies(request, reply, sid, csrf);
  }

  const plugin = async (app: FastifyInstance) => {
    if (!app.hasDecorator('parseCookie')) await app.register(fastifyCookie);
    if (!app.hasRequestDecorator('user')) app.decorateRequest('user', null);

    app.addHook('onRequest', async (request, reply) => {
      request.user = null;
      // Static files of the player and the probes need no identity: skip the cache round trips.
      if (!request.url.startsWith('/api/')) return;
      const authz = request.headers.authorization;
      if (authz !== undefined) {
        const m = /^Bearer\s+(\S+)\s*$/i.exec(authz);
        const user = m ? await userFromToken(db, m[1]) : null;
        if (!user) throw new AppError('unauthenticated', 'The API token is not valid (revoked, mistyped or not a Bearer token); create a new one under your account.');
        request.user = user;
        return; // tokens are not sent by browsers on their own: no CSRF check
      }
      const sid = request.cookies.sid;
      if (!sid) return;
      const s = await sessions.get(sid);
      if (!s) return; // expired or revoked: anonymous (the route decides whether that is enough)
      request.user = { ...s.user, sessionId: sid, via: 'cookie' };
      const refreshCookie = Date.now() - s.cookieSetAt > COOKIE_REFRESH_MS;
      if (refreshCookie) s.cookieSetAt = Date.now();
      await sessions.touch(sid, s, refreshCookie);
      if (refreshCookie) setSessionCookies(request, reply, sid, s.csrf);
      if (UNSAFE.has(request.method) && request.routeOptions.config?.csrf !== false) {
        const header = request.headers['x-csrf-token'];
        const cookie = request.cookies.csrf;
        const ok = typeof header === 'string' && typeof cookie === 'string' && safeEqual(header, cookie) && safeEqual(header, s.csrf);
        if (!ok) throw new AppError('csrf_mismatch', 'Send header x-csrf-token equal to the csrf cookie with every write made with the session cookie.');
      }
    });

    app.post('/api/auth/signup', async (request, reply) => {
      const body = parseOr400(ZSignupRequest, request.body);
      const wait = await hit(deps.cache, `signup:ip:${request.ip}`, signupLimit.perIp, signupLimit.windowMs);
      if (wait) throw rateLimited(wait, 'sign-ups from this address');
      const passwordHash = await hashPassword(body.password);
      let user: StoredSession['user'];
      try {
        user = await db.transaction().execute(async (trx) => {
          const u = await trx
            .insertInto('users')
            .values({ email: body.email, password_hash: passwordHash, display_name: body.displayName, role: body.role })
            .returning(['id', 'email', 'display_name', 'role'])
            .executeTakeFirstOrThrow();
          let artistId: string | null = null;
          if (body.role === 'musician') {
            // A musician's public profile starts as their display name; they can rename it later.
            const a = await trx
              .insertInto('artists')
              .values({ owner_user_id: u.id, name: body.displayName, search_key: sql<string>`catalog_search_key(${body.displayName})` as unknown as string })
              .returning('id')
              .executeTakeFirstOrThrow();
            artistId = a.id;
          }
          return { id: u.id, email: u.email, displayName: u.display_name, role: u.role as Role, artistId };
        });
      } catch (e) {
        if ((e as { code?: string }).code === '23505') throw new AppError('email_taken', 'An account with this email already exists; log in or use another address.');
        throw e;
      }
      await startSession(request, reply, user);
      request.log.info({ userId: user.id, role: user.role }, 'signup');
      return reply.code(201).send(toMe(user));
    });

    app.post('/api/auth/login', async (request, reply) => {
      const body = parseOr400(ZLoginRequest, request.body);
      const account = body.email.toLowerCase();
      const ipWait = await hit(deps.cache, `login:ip:${request.ip}`, loginLimits.perIp, loginLimits.windowMs);
      if (ipWait) {
        metrics.logins.inc({ result: 'rate_limited' });
        throw rateLimited(ipWait, 'login attempts from this address');
      }
      // Failures are limited per (account, IP), not per account alone: a per-account lockout would let
      // anyone lock any owner out with a few wrong passwords (OWASP authentication cheat sheet). Only
      // the IP that is over its own limit is refused, so the owner's correct password from another
      // address still works. A distributed guess (many IPs) is bounded by the much higher per-account
      // count: past it, every IP gets one failed guess at this account per window (an IP with no
      // failures, e.g. the owner's, can still log in).
      const acctHash = sha256(account).toString('hex');
      const acctKey = `login:acct:${acctHash}`;
      const acctIpKey = `login:acct-ip:${acctHash}:${request.ip}`;
      const underAttack = (await hit(deps.cache, acctKey, loginLimits.perAccount, loginLimits.windowMs, false)) > 0;
      const acctIpWait = await hit(deps.cache, acctIpKey, underAttack ? 1 : loginLimits.perAccountIp, loginLimits.windowMs, false);
      if (acctIpWait) {
        metrics.logins.inc({ result: 'rate_limited' });
        throw rateLimited(acctIpWait, 'failed logins for this account from this address');
      }
      const row = await db.selectFrom('users').select(['id', 'password_hash']).where(sql<boolean>`lower(email) = ${account}`).executeTakeFirst();
      const ok = await verifyPassword(row?.password_hash ?? null, body.password);
      if (!ok || !row) {
        await hit(deps.cache, acctIpKey, loginLimits.perAccountIp, loginLimits.windowMs);
        await hit(deps.cache, acctKey, loginLimits.perAccount, loginLimits.windowMs);
        metrics.logins.inc({ result: 'invalid' });
        throw new AppError('invalid_credentials', 'The email or password is wrong.');
      }
      const user = await loadSessionUser(db, row.id);
      if (!user) throw new AppError('invalid_credentials', 'The email or password is wrong.');
      // A fresh session id on every login (no fixation); a session this browser already had ends.
      if (request.user?.via === 'cookie') await sessions.destroy(request.user.sessionId, request.user.id);
      await startSession(request, reply, user);
      metrics.logins.inc({ result: 'ok' });
      return reply.code(200).send(toMe(user));
    });

    app.post('/api/auth/logout', async (request, reply) => {
      const u = request.user;
      if (u?.via === 'cookie') await sessions.destroy(u.sessionId, u.id);
      clearSessionCookies(reply);
      return reply.code(204).send();
    });

    app.get('/api/me', async (request) => toMe(requireUser(request)));

    app.patch('/api/me', async (request) => {
      const u = requireUser(request);
      const body = parseOr400(ZUpdateMeRequest, request.body);
      await db.updateTable('users').set({ display_name: body.displayName, updated_at: new Date() }).where('id', '=', u.id).execute();
      const fresh = await loadSessionUser(db, u.id);
      if (!fresh) throw new AppError('not_found', 'This account no longer exists.');
      await sessions.updateUser(fresh);
      return toMe(fresh);
    });

    app.post('/api/auth/password', async (request, reply) => {
      const u = requireUser(request);
      const body = parseOr400(ZChangePasswordRequest, request.body);
      const row = await db.selectFrom('users').select('password_hash').where('id', '=', u.id).executeTakeFirst();
      if (!row || !(await verifyPassword(row.password_hash, body.currentPassword))) {
        throw new AppError('invalid_credentials', 'The current password is wrong.');
      }
      await db
        .updateTable('users')
        .set({ password_hash: await hashPassword(body.newPassword), password_changed_at: new Date(), updated_at: new Date() })
        .where('id', '=', u.id)
        .execute();
      // Every session (other browsers, possibly an attacker's) ends; this browser gets a fresh one.
      await sessions.destroyAll(u.id);
      const fresh = await loadSessionUser(db, u.id);
      if (u.via === 'cookie' && fresh) await startSession(request, reply, fresh);
      return reply.code(204).send();
    });

    app.get('/api/auth/tokens', async (request) => {
      const u = requireUser(request);
      const rows = await db
        .selectFrom('api_tokens')
        .select(['id', 'name', 'created_at', 'last_used_at'])
        .where('user_id', '=', u.id)
        .orderBy('created_at', 'desc')
        .orderBy('id')
        .execute();
      return {
        items: rows.map((r) => ({ id: r.id, name: r.name, createdAt: new Date(r.created_at).toISOString(), lastUsedAt: r.last_used_at ? new Date(r.last_used_at).toISOString() : null })),
      };
    });

    app.post('/api/auth/tokens', async (request, reply) => {
      const u = requireUser(request);
      const body = parseOr400(ZCreateTokenRequest, request.body);
      const count = await db.selectFrom('api_tokens').select((eb) => eb.fn.countAll<string>().as('n')).where('user_id', '=', u.id).executeTakeFirstOrThrow();
      if (Number(count.n) >= 50) throw new AppError('conflict', 'This account already has 50 API tokens; delete one first.');
      const created = await createApiToken(db, u.id, body.name);
      return reply.code(201).send(created);
    });

    app.delete('/api/auth/tokens/:id', async (request, reply) => {
      const u = requireUser(request);
      const { id } = parseOr400(ZIdParams, request.params, 'params');
      const res = await db.deleteFrom('api_tokens').where('user_id', '=', u.id).where('id', '=', id).executeTakeFirst();
      if (Number(res.numDeletedRows) === 0) throw new AppError('not_found', 'No API token with this id on your account.');
      return reply.code(204).send();
    });
  };
  // Same effect as fastify-plugin: the hook and decorator apply to the whole app, not an encapsulated child.
  Object.assign(plugin, { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'catalog-auth' });
  return plugin;
}

