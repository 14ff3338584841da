/**
 * Configuration: the CONTRACT's environment variables, parsed once per process with zod and frozen.
 * Unset means "use the embedded default". A bad value throws ConfigError whose message is one line
 * naming the variable; `exitOnConfigError` turns it into that line on stderr and exit code 2.
 */
import path from 'node:path';
import { z } from 'zod';

const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);
const optionalUrl = (protocols: string[], example: string) =>
  z
    .string()
    .trim()
    .min(1)
    .refine((v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    }, `must be a URL like ${example}`)
    .optional();

/** "1.5GiB", "200MB", "1024" -> bytes */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib|tb|tib)?\s*$/i.exec(text);
  if (!m) throw new Error(`"${text}" is not a size (e.g. 2GiB, 500MB, 1048576)`);
  const units: Record<string, number> = { b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 1024 ** 2, gb: 1e9, gib: 1024 ** 3, tb: 1e12, tib: 1024 ** 4 };
  return Math.round(Number(m[1]) * units[(m[2] ?? 'b').toLowerCase()]);
}

/** "90s", "15m", "1h", "7d", "250ms", "1500" (ms) -> milliseconds */
export function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!m) throw new Error(`"${text}" is not a duration (e.g. 250ms, 90s, 15m, 1h, 7d)`);
  const units: Record<string, number> = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 };
  return Math.round(Number(m[1]) * units[m[2] ?? 'ms']);
}

const size = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((v, ctx) => {
      try {
        return parseSize(v);
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: (e as Error).message });
        return z.NEVER;
      }
    });
const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((v, ctx) => {
      try {
        return parseDuration(v);
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: (e as Error).message });
        return z.NEVER;
      }
    });

const signingKeys = z
  .string()
  .trim()
  .min(1)
  .transform((v, ctx) => {
    const keys = v.split(',').map((pair) => {
      const i = pair.indexOf(':');
      return { kid: pair.slice(0, i).trim(), secret: pair.slice(i + 1).trim() };
    });
    for (const k of keys) {
      if (!/^[A-Za-z0-9_-]{1,32}$/.test(k.kid) || k.secret.length < 16) {
        ctx.addIssue({ code: 'custom', message: 'must be kid:secret pairs separated by commas (kid: letters, digits, - or _; secret: at least 16 characters)' });
        return z.NEVER;
      }
    }
    return keys;
  })
  .optional();

const csv = z
  .string()
  .trim()
  .min(1)
  .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
  .optional();

export const ZEnv = z.object({
  HOST: z.string().default('127.0.0.1'),
  WEB_PORT: port(8080),
  EDGE_PORT: port(8081),
  ORIGIN_PORT: port(8082),
  DATA_DIR: z.string().default('./.data'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  DATABASE_URL: optionalUrl(['postgres:', 'postgresql:'], 'postgres://user:pass@host:5432/db'),
  CLICKHOUSE_URL: optionalUrl(['http:', 'https:'], 'http://user:pass@host:8123/db'),
  KAFKA_BROKERS: csv,
  KAFKA_PARTITIONS: z.coerce.number().int().min(1).max(1024).default(6),
  REDIS_URL: optionalUrl(['redis:', 'rediss:'], 'redis://host:6379/0'),
  S3_ENDPOINT: optionalUrl(['http:', 'https:'], 'http://127.0.0.1:9000'),
  S3_ACCESS_KEY: z.string().min(1).optional(),
  S3_SECRET_KEY: z.string().min(1).optional(),
  S3_BUCKET: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a valid S3 bucket name').default('media'),
  S3_REGION: z.string().default('us-east-1'),
  MEDIA_SIGNING_KEYS: signingKeys,

  /** Public base URL of the edge (what players fetch), and the origin URL edges fetch from. */
  EDGE_PUBLIC_URL: optionalUrl(['http:', 'https:'], 'https://cdn.example.com'),
  ORIGIN_URL: optionalUrl(['http:', 'https:'], 'http://127.0.0.1:8082'),
  /** Shared credential by which edges prove themselves to the origin (generated under DATA_DIR when unset). */
  EDGE_ORIGIN_SECRET: z.string().min(16).optional(),
  EDGE_ID: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).default('edge-1'),
  EDGE_CACHE_BYTES: size('512MiB'),
  EDGE_DISK_CACHE_DIR: z.string().optional(),
  EDGE_PARENTS: csv,
  /** 'auto': cache hits go out by sendfile from shared memory when the edge's addon builds (edge-workers/src/zero-copy.ts); 'off': always copied. */
  EDGE_ZERO_COPY: z.enum(['auto', 'off']).default('auto'),
  /**
   * Where zero-copy keeps cached bodies: unlinked files (O_TMPFILE) in this directory, locked in memory
   * ('' = the OS temp directory), or 'memfd' for anonymous shared memory (edge-workers/README.md).
   */
  EDGE_ZERO_COPY_DIR: z.string().max(1000).default(''),
  EDGE_FAST_PATH: z.enum(['auto', 'off']).default('auto'),
  /** Connection timeouts at the edge, the same on its native path and in node:http (edge-workers/README.md). */
  EDGE_KEEPALIVE_TIMEOUT: duration('65s'),
  EDGE_HEADERS_TIMEOUT: duration('10s'),
  EDGE_REQUEST_TIMEOUT: duration('30s'),
  PLAYBACK_GRANT_TTL: duration('6h'),

  UPLOAD_MAX_BYTES: size('2GiB'),
  SEGMENT_DURATION_S: z.coerce.number().min(1).max(30).default(4),
  PACKAGER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(1),
  SESSION_TTL: duration('30d'),
  RECS_CACHE_TTL: duration('10m'),
  /** How often the recs-trainer service retrains (it also trains once soon after start when no model exists). */
  RECS_TRAIN_INTERVAL: duration('1h'),

  /**
   * Behind a reverse proxy or load balancer: how many proxy hops to trust for X-Forwarded-For, so
   * per-IP login limits and logs see the client's address (0 = connect directly, the default).
   */
  TRUST_PROXY_HOPS: z.coerce.number().int().min(0).max(10).default(0),
  /** Comma-separated list of services this process runs (`npm start` runs all). */
  SERVICES: csv,
});

export type Config = Readonly<
  z.infer<typeof ZEnv> & {
    /** Absolute DATA_DIR. */
    dataDir: string;
    /** True when S3_ENDPOINT is set: objects go to S3, else files under DATA_DIR. */
    hasS3: boolean;
  }
>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Parse the environment once; throws ConfigError with one line naming the first bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings mean unset, as in most shells' `FOO= cmd`.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = ZEnv.safeParse(cleaned);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue.path[0] ?? 'environment');
    throw new ConfigError(`Invalid configuration: ${name} ${issue.message}`);
  }
  const c = parsed.data;
  if (c.S3_ENDPOINT && (!c.S3_ACCESS_KEY || !c.S3_SECRET_KEY)) {
    throw new ConfigError('Invalid configuration: S3_ACCESS_KEY and S3_SECRET_KEY are required when S3_ENDPOINT is set');
  }
  return Object.freeze({ ...c, dataDir: path.resolve(c.DATA_DIR), hasS3: Boolean(c.S3_ENDPOINT) });
}

/** For main.ts: print the one-line reason and exit non-zero. */
export function loadConfigOrExit(env: NodeJS.ProcessEnv = process.env): Config {
  try {
    return loadConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
}
