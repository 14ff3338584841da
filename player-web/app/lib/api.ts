/**
 * The app's one door to the JSON API on the same origin: cookies travel automatically, every write carries
 * `x-csrf-token` (double submit of the readable `csrf` cookie, CONTRACT), and an error response becomes an
 * ApiError holding the problem+json `code` and `detail` so screens can show a sentence a person can act on.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
  ) {
    super(detail);
    this.name = 'ApiError';
  }
}

export function readCookie(name: string): string | undefined {
  for (const part of document.cookie.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return undefined;
}

export function csrfHeaders(): Record<string, string> {
  const token = readCookie('csrf');
  return token ? { 'x-csrf-token': token } : {};
}

/** Turns any failed Response into an ApiError, reading problem+json when the server sent it. */
export async function toApiError(res: Response): Promise<ApiError> {
  let code = `http_${res.status}`;
  let detail = `The server answered ${res.status} ${res.statusText}.`;
  try {
    const body = (await res.json()) as { code?: unknown; detail?: unknown; title?: unknown; message?: unknown };
    if (typeof body.code === 'string') code = body.code;
    if (typeof body.detail === 'string' && body.detail) detail = body.detail;
    else if (typeof body.title === 'string' && body.title) detail = body.title;
    else if (typeof body.message === 'string' && body.message) detail = body.message;
  } catch {
    /* not JSON: keep the status sentence */
  }
  return new ApiError(res.status, code, detail);
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  body?: unknown;
  signal?: AbortSignal;
}

export async function api<T = unknown>(path: string, opts: RequestOptions = {}): Promise<T> {
  const method = opts.method ?? 'GET';
  const headers: Record<string, string> = { accept: 'application/json' };
  let body: BodyInit | undefined;
  if (method !== 'GET') Object.assign(headers, csrfHeaders());
  if (opts.body instanceof FormData) body = opts.body;
  else if (opts.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body, credentials: 'same-origin', signal: opts.signal });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, 'network_error', 'The server could not be reached. Check your connection and try again.');
  }
  if (!res.ok) throw await toApiError(res);
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

/** Message for any thrown value, for display. */
export function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.detail;
  if (e instanceof Error) return e.message;
  return String(e);
}
