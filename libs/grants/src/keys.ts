/**
 * Where the secrets come from: MEDIA_SIGNING_KEYS / EDGE_ORIGIN_SECRET when configured, otherwise
 * generated once and kept under ${DATA_DIR}/keys (mode 0600) so every process on this machine (web
 * server, edge, origin) agrees without anyone copying secrets around, and restarts keep grants valid.
 */
import { randomBytes, createHash, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '@platform/config';
import type { SigningKey } from './grant';

type KeyConfig = Pick<Config, 'MEDIA_SIGNING_KEYS' | 'dataDir'>;
type SecretConfig = Pick<Config, 'EDGE_ORIGIN_SECRET' | 'dataDir'>;

/**
 * Create a JSON file exactly once even when several processes start together: write a private temp
 * file, then hard-link it into place (link fails if the name exists), so nobody ever reads a
 * half-written file and the first writer wins.
 */
function readOrCreateJson<T>(file: string, make: () => T): T {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(make(), null, 2) + '\n', { mode: 0o600 });
  try {
    fs.linkSync(tmp, file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

export function signingKeysFile(dataDir: string): string {
  return path.join(dataDir, 'keys', 'media-signing.json');
}
export function edgeOriginSecretFile(dataDir: string): string {
  return path.join(dataDir, 'keys', 'edge-origin.json');
}

/** The keyring: the first key signs, every key verifies. Never empty. */
export function loadSigningKeys(config: KeyConfig): SigningKey[] {
  if (config.MEDIA_SIGNING_KEYS && config.MEDIA_SIGNING_KEYS.length > 0) return config.MEDIA_SIGNING_KEYS.map((k) => ({ kid: k.kid, secret: k.secret }));
  const stored = readOrCreateJson(signingKeysFile(config.dataDir), () => ({
    note: 'Generated because MEDIA_SIGNING_KEYS is unset. Set MEDIA_SIGNING_KEYS=kid:secret,... to manage keys yourself.',
    keys: [{ kid: `k${randomBytes(4).toString('hex')}`, secret: randomBytes(32).toString('base64url') }],
  }));
  const keys = (stored.keys ?? []).filter((k) => typeof k?.kid === 'string' && typeof k?.secret === 'string' && k.secret.length >= 16);
  if (keys.length === 0) throw new Error(`${signingKeysFile(config.dataDir)} holds no usable key; delete it to regenerate`);
  return keys.map((k) => ({ kid: k.kid, secret: k.secret }));
}

/** The shared credential edges present to the origin (and to parent edges). */
export function loadEdgeOriginSecret(config: SecretConfig): string {
  if (config.EDGE_ORIGIN_SECRET) return config.EDGE_ORIGIN_SECRET;
  const stored = readOrCreateJson(edgeOriginSecretFile(config.dataDir), () => ({
    note: 'Generated because EDGE_ORIGIN_SECRET is unset.',
    secret: randomBytes(32).toString('base64url'),
  }));
  if (typeof stored.secret !== 'string' || stored.secret.length < 16) throw new Error(`${edgeOriginSecretFile(config.dataDir)} holds no usable secret; delete it to regenerate`);
  return stored.secret;
}

/** Header by which an edge proves itself to the origin and to parent edges. */
export const EDGE_AUTH_HEADER = 'x-edge-auth';

/**
 * Constant-time check of a presented edge credential. Both sides are hashed first so the comparison
 * is over equal lengths and leaks neither the secret's length nor a matching prefix.
 */
export function createEdgeCredentialCheck(secret: string): (presented: string | string[] | undefined) => boolean {
  const expected = createHash('sha256').update(secret).digest();
  return (presented) => {
    if (typeof presented !== 'string' || presented.length === 0 || presented.length > 512) return false;
    return timingSafeEqual(createHash('sha256').update(presented).digest(), expected);
  };
}
