/**
 * `platform ingest FILE... [--artist A] [--album B] [--title T] [--json]`: bulk upload through the
 * web API (POST /api/tracks, multipart, streamed from disk with an exact Content-Length), a progress
 * bar per file on stderr (upload bytes, then the packager's stages), then waits until every track is
 * ready or failed. With --json, one JSON line per track on stdout. Exit codes: 0 all ready, 1 some
 * file failed, 2 usage/credentials, 3 server unreachable.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { MultiBar, Presets, type SingleBar } from 'cli-progress';

export interface IngestCommandOptions {
  artist?: string;
  album?: string;
  title?: string;
  json?: boolean;
  url: string;
  token: string;
}

export const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3 } as const;

const USER_AGENT = 'platform-cli/0.1 (ingest)';
const POLL_MS = 1000;
/** Upper bound for one track's processing before the CLI gives up waiting (the track keeps processing). */
const WAIT_LIMIT_MS = 3 * 3600_000;
const UPLOAD_CONCURRENCY = 2;

interface Problem {
  code?: string;
  detail?: string;
  title?: string;
}

export interface TrackLine {
  file: string;
  id: string | null;
  status: 'ready' | 'failed' | 'processing';
  title?: string;
  artist?: string;
  album?: string | null;
  durationMs?: number | null;
  downmix?: boolean;
  error?: { code: string; detail: string };
}

class HttpFailure extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem,
  ) {
    super(problem.detail ?? problem.title ?? `HTTP ${status}`);
  }
}

class Unreachable extends Error {}

/** PLATFORM_URL may carry a path prefix (https://host/music/): API paths are resolved under it. */
function apiUrl(base: string, pathname: string): URL {
  return new URL(pathname.replace(/^\//, ''), base.endsWith('/') ? base : `${base}/`);
}

function clientFor(u: URL) {
  return u.protocol === 'https:' ? https : http;
}

function describeNetError(e: unknown, base: string): string {
  const code = (e as { code?: string }).code;
  const why = code === 'ECONNREFUSED' ? 'connection refused' : code === 'ENOTFOUND' ? 'host not found' : code === 'ETIMEDOUT' ? 'timed out' : (e as Error).message;
  return `Cannot reach the platform at ${base} (${why}). Is it running? Set PLATFORM_URL to its address.`;
}

/** A small JSON request with the token; throws HttpFailure on 4xx/5xx, Unreachable on network errors. */
function requestJson<T>(base: string, token: string, method: string, pathname: string): Promise<T> {
  const u = apiUrl(base, pathname);
  return new Promise<T>((resolve, reject) => {
    const req = clientFor(u).request(u, { method, headers: { authorization: `Bearer ${token}`, accept: 'application/json', 'user-agent': USER_AGENT }, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = {};
        try {
          body = text ? JSON.parse(text) : {};
        } catch {
          body = { detail: text.slice(0, 200) };
        }
        if ((res.statusCode ?? 500) >= 400) reject(new HttpFailure(res.statusCode ?? 500, body as Problem));
        else resolve(body as T);
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', (e) => reject(new Unreachable(describeNetError(e, base))));
    req.end();
  });
}

const escapeQuoted = (s: string) => s.replace(/[\r\n"\\]/g, (c) => (c === '"' ? '%22' : c === '\\' ? '\\\\' : ' '));

/** Stream one file as multipart/form-data with an exact Content-Length, reporting bytes sent. */
function uploadFile(
  base: string,
  token: string,
  file: { path: string; size: number },
  fields: Record<string, string | undefined>,
  onBytes: (sent: number) => void,
): Promise<{ id: string; notices?: string[]; downmix?: boolean }> {
  const boundary = `----platform-${randomBytes(12).toString('hex')}`;
  const head = Object.entries(fields)
    .filter((e): e is [string, string] => typeof e[1] === 'string' && e[1] !== '')
    .map(([k, v]) => `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`)
    .join('');
  const ext = path.extname(file.path).toLowerCase();
  const mime = ext === '.flac' ? 'audio/flac' : ext === '.wav' ? 'audio/wav' : 'application/octet-stream';
  const preamble = Buffer.from(`${head}--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${escapeQuoted(path.basename(file.path))}"\r\nContent-Type: ${mime}\r\n\r\n`, 'utf8');
  const epilogue = Buffer.from(`\r\n--${boundary}--\r\n`, 'utf8');
  const u = apiUrl(base, '/api/tracks');

  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (err: Error | null, value?: { id: string }) => {
      if (settled) return;
      settled = true;
      if (err) reject(err);
      else resolve(value!);
    };
    const req = clientFor(u).request(u, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        accept: 'application/json',
        'user-agent': USER_AGENT,
        'content-type': `multipart/form-data; boundary=${boundary}`,
        'content-length': String(preamble.length + file.size + epilogue.length),
      },
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: Record<string, unknown> = {};
        try {
          body = JSON.parse(text) as Record<string, unknown>;
        } catch {
          body = { detail: text.slice(0, 200) };
        }
        if (res.statusCode === 202 && typeof body.id === 'string') done(null, body as { id: string });
        else done(new HttpFailure(res.statusCode ?? 500, body as Problem));
      });
    });
    req.on('error', (e) => {
      // The server may answer (413, 415) and close before it read everything: that answer wins.
      setTimeout(() => done(new Unreachable(describeNetError(e, base))), 200);
    });
    req.write(preamble);
    let sent = 0;
    const stream = createReadStream(file.path, { highWaterMark: 256 * 1024 });
    stream.on('data', (chunk) => {
      sent += chunk.length;
      onBytes(sent);
      if (!req.write(chunk)) {
        stream.pause();
        req.once('drain', () => stream.resume());
      }
    });
    stream.on('end', () => req.end(epilogue));
    stream.on('error', (e) => {
      req.destroy();
      done(e);
    });
    req.on('close', () => stream.destroy());
  });
}

interface StatusDoc {
  id: string;
  title: string;
  artist?: string;
  album?: string | null;
  status: 'processing' | 'ready' | 'failed';
  durationMs?: number | null;
  downmix?: boolean;
  error?: { code: string; detail: string };
  progress?: { stage: string; percent: number };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function fmtBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(2)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${Math.ceil(n / 1024)} KiB`;
}

async function runLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++];
      await fn(item);
    }
  });
  await Promise.all(workers);
}

export async function runIngestCommand(files: string[], opts: IngestCommandOptions): Promise<number> {
  const err = (s: string) => process.stderr.write(`${s}\n`);
  if (!files.length) {
    err('platform ingest: give one or more WAV or FLAC files.');
    return EXIT.usage;
  }
  if (!opts.token) {
    err('platform ingest: PLATFORM_TOKEN is not set. Create an API token as a musician (portal, or POST /api/auth/tokens) and export PLATFORM_TOKEN=<token>.');
    return EXIT.usage;
  }
  if (opts.title && files.length > 1) {
    err('platform ingest: --title applies to a single file; with several files titles come from their tags or file names.');
    return EXIT.usage;
  }
  let base: string;
  try {
    base = new URL(opts.url).toString();
  } catch {
    err(`platform ingest: PLATFORM_URL "${opts.url}" is not a URL (e.g. http://127.0.0.1:8080).`);
    return EXIT.usage;
  }

  // Who are we? Fails fast on a dead server or a bad token, before any bytes move.
  try {
    const me = await requestJson<{ role?: string; user?: { role?: string } }>(base, opts.token, 'GET', '/api/me');
    const role = me.role ?? me.user?.role;
    if (role && role !== 'musician' && role !== 'admin') {
      err(`platform ingest: this token belongs to a ${role} account; uploading needs a musician account.`);
      return EXIT.usage;
    }
  } catch (e) {
    if (e instanceof Unreachable) {
      err(`platform ingest: ${e.message}`);
      return EXIT.unreachable;
    }
    if (e instanceof HttpFailure && e.status === 401) {
      err('platform ingest: the server refused PLATFORM_TOKEN (unknown, revoked or expired). Create a new token and export it.');
      return EXIT.usage;
    }
    if (e instanceof HttpFailure && e.status >= 500) {
      err(`platform ingest: the server at ${base} answered ${e.status}: ${e.message}`);
      return EXIT.unreachable;
    }
    throw e;
  }

  const isTty = Boolean(process.stderr.isTTY);
  // Without a terminal, bars would be noise in logs: per-file lines are printed instead.
  const multibar: MultiBar | null = !isTty ? null : new MultiBar(
    {
      stream: process.stderr,
      format: ' {name} |{bar}| {percentage}% {stage}',
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      barsize: 30,
    },
    Presets.shades_classic,
  );
  const width = Math.min(32, Math.max(...files.map((f) => path.basename(f).length)));
  const label = (f: string) => {
    const b = path.basename(f);
    return b.length > width ? `${b.slice(0, width - 1)}…` : b.padEnd(width);
  };
  // Lines printed while bars redraw corrupt cli-progress's layout: with bars, messages wait for the end.
  const deferred: string[] = [];
  const log = (s: string) => (multibar ? deferred.push(s) : err(s));
  const results: TrackLine[] = [];
  const emit = (line: TrackLine) => {
    results.push(line);
    if (opts.json) process.stdout.write(`${JSON.stringify(line)}\n`);
  };
  let unreachable = false;

  const one = async (file: string) => {
    const bar: Pick<SingleBar, 'update'> = multibar?.create(100, 0, { name: label(file), stage: 'waiting' }) ?? { update: () => undefined };
    const fail = (code: string, rawDetail: string, id: string | null = null) => {
      // The server names the file in bulk-friendly messages; the CLI already does.
      const detail = rawDetail.replace(/^"[^"]*": /, '');
      bar.update({ stage: `failed: ${code}` });
      log(`✖ ${file}: ${detail} (${code})`);
      emit({ file, id, status: 'failed', error: { code, detail } });
    };
    let size: number;
    try {
      const st = await stat(file);
      if (!st.isFile()) return fail('not_a_file', `${file} is not a regular file.`);
      size = st.size;
    } catch {
      return fail('file_not_found', `No such file: ${file}.`);
    }
    let id: string;
    let downmix = false;
    try {
      bar.update(0, { stage: `uploading ${fmtBytes(size)}` });
      const accepted = await uploadFile(base, opts.token, { path: file, size }, { title: opts.title, artist: opts.artist, album: opts.album }, (sent) => {
        bar.update(size ? Math.floor((sent / size) * 100) : 100);
      });
      id = accepted.id;
      downmix = Boolean(accepted.downmix);
      if (!isTty) err(`↑ ${file}: uploaded as ${id}, processing`);
    } catch (e) {
      if (e instanceof HttpFailure) return fail(e.problem.code ?? `http_${e.status}`, e.problem.detail ?? e.message);
      if (e instanceof Unreachable) unreachable = true;
      return fail('upload_failed', (e as Error).message);
    }
    bar.update(0, { stage: downmix ? 'queued (will downmix to stereo)' : 'queued' });
    const started = Date.now();
    let misses = 0;
    for (;;) {
      await sleep(POLL_MS);
      let doc: StatusDoc;
      try {
        doc = await requestJson<StatusDoc>(base, opts.token, 'GET', `/api/tracks/${id}/status`);
        misses = 0;
      } catch (e) {
        // A restart of the server is not a failure of the track: keep asking for a while.
        if (++misses < 60) continue;
        return fail('status_unavailable', `Lost contact with the server while ${file} was processing: ${(e as Error).message}`, id);
      }
      if (doc.status === 'ready') {
        bar.update(100, { stage: 'ready' });
        if (!isTty) err(`✔ ${file}: ready (${id})`);
        emit({ file, id, status: 'ready', title: doc.title, artist: doc.artist, album: doc.album ?? null, durationMs: doc.durationMs ?? null, downmix: doc.downmix ?? downmix });
        return;
      }
      if (doc.status === 'failed') {
        return fail(doc.error?.code ?? 'failed', doc.error?.detail ?? 'Processing failed.', id);
      }
      const p = doc.progress;
      bar.update(Math.round(p?.percent ?? 0), { stage: p?.stage ?? 'processing' });
      if (Date.now() - started > WAIT_LIMIT_MS) {
        log(`… ${file}: still processing after ${Math.round(WAIT_LIMIT_MS / 60_000)} min; stopped waiting (track ${id} keeps processing).`);
        emit({ file, id, status: 'processing', title: doc.title });
        return;
      }
    }
  };

  try {
    await runLimited(files, UPLOAD_CONCURRENCY, one);
  } finally {
    multibar?.stop();
  }
  for (const line of deferred) err(line);
  const ready = results.filter((r) => r.status === 'ready').length;
  const failed = results.length - ready;
  if (!opts.json) {
    const order = (f: string) => files.indexOf(f);
    for (const r of [...results].sort((a, b) => order(a.file) - order(b.file))) {
      process.stdout.write(r.status === 'ready' ? `ready   ${r.id}  ${r.file}\n` : `${r.status.padEnd(7)} ${r.id ?? '-'.repeat(36)}  ${r.file}${r.error ? `  ${r.error.code}: ${r.error.detail}` : ''}\n`);
    }
  }
  err(`${ready} of ${results.length} ready${failed ? `, ${failed} not` : ''}.`);
  if (unreachable && ready === 0) return EXIT.unreachable;
  return failed ? EXIT.failed : EXIT.ok;
}
