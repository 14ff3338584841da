/**
 * Structured logs (pino). Secrets never reach a log line: known secret-bearing fields are redacted.
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'password', '*.password', 'token', '*.token', 'secret', '*.secret',
  'req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]',
  'headers.authorization', 'headers.cookie', 'grant', '*.grant',
];

export function createLogger(opts: { name: string; level?: LevelWithSilent }): Logger {
  return pino({
    name: opts.name,
    level: opts.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: opts.name, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
