/**
 * One error type with a stable code. Every service throws AppError; one place (libs/http) maps it to
 * RFC 9457 problem+json. Codes are snake_case words that clients may rely on (CONTRACT.md).
 */
export const ERROR_STATUS = {
  validation_failed: 400,
  bad_request: 400,
  unsupported_format: 415,
  corrupt_audio: 422,
  duration_out_of_range: 422,
  empty_file: 400,
  unauthenticated: 401,
  invalid_credentials: 401,
  invalid_grant: 403,
  forbidden: 403,
  csrf_mismatch: 403,
  not_found: 404,
  gone: 410,
  method_not_allowed: 405,
  conflict: 409,
  email_taken: 409,
  payload_too_large: 413,
  range_not_satisfiable: 416,
  rate_limited: 429,
  internal_error: 500,
  bad_gateway: 502,
  unavailable: 503,
  timeout: 504,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly detail: string;
  /** Extra members for the problem body (e.g. which fields failed validation). */
  readonly extra?: Record<string, unknown>;
  /** Seconds, for 429/503 answers. */
  readonly retryAfter?: number;

  constructor(code: ErrorCode, detail: string, opts: { extra?: Record<string, unknown>; retryAfter?: number; cause?: unknown } = {}) {
    super(detail, { cause: opts.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.detail = detail;
    this.extra = opts.extra;
    this.retryAfter = opts.retryAfter;
  }
}

export const isAppError = (e: unknown): e is AppError => e instanceof AppError;

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  [key: string]: unknown;
}

const titles: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  409: 'Conflict', 413: 'Payload Too Large', 415: 'Unsupported Media Type', 416: 'Range Not Satisfiable',
  422: 'Unprocessable Content', 429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway',
  503: 'Service Unavailable', 504: 'Gateway Timeout',
};

export function toProblem(e: AppError): Problem {
  return {
    type: `https://docs.platform.local/errors/${e.code}`,
    title: titles[e.status] ?? 'Error',
    status: e.status,
    detail: e.detail,
    code: e.code,
    ...(e.extra ?? {}),
  };
}
