/**
 * Playback grants: short, URL-safe, HMAC-SHA256 tokens that let a player fetch the manifests and
 * segments of ONE published track version until an expiry, optionally bound to a session.
 *
 * The scope (trackId, version) is not written into the token: it is fed into the MAC, and the
 * verifier takes it from the URL path the token arrived with. So a grant is small (about 60
 * characters), cannot be replayed against another track or version, and needs no parsing beyond a
 * few fixed-size fields. Layout before base64url:
 *
 *   [0]      format (1)
 *   [1..4]   expiry, uint32 seconds since the epoch
 *   [5]      flags (bit 0: session-bound)
 *   [6]      kid length L (1..32), then L bytes of kid (ASCII)
 *   [..+12]  session tag when session-bound: HMAC(secret, "sid\0" + sid)[0..12] (never the sid itself)
 *   [..+32]  HMAC-SHA256(secret, header bytes || "\0" || trackId || "\0" || version)
 */
import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { GenerationalMap } from '@platform/cache';

export interface SigningKey {
  /** Key id written into every grant, so verifiers pick the right secret and keys can rotate. */
  kid: string;
  secret: string;
}

export interface GrantClaims {
  trackId: string;
  version: number;
  /** Expiry, epoch milliseconds (stored with one-second precision, rounded up). */
  exp: number;
  /** Bind the grant to this session id (only a keyed tag of it is stored in the token). */
  sid?: string;
}

export interface GrantScope {
  trackId: string;
  version: number;
  /** When given and the grant is session-bound, the grant must have been issued for this sid. */
  sid?: string;
  /** Epoch milliseconds; defaults to Date.now(). */
  now?: number;
}

export type GrantFailure = 'malformed' | 'unknown_kid' | 'bad_signature' | 'expired' | 'session_mismatch';

export type GrantVerdict =
  | { ok: true; kid: string; exp: number; isSessionBound: boolean }
  | { ok: false; reason: GrantFailure };

const FORMAT = 1;
const MAC_BYTES = 32;
const TAG_BYTES = 12;
const FLAG_SESSION = 1;
/** A token longer than this is not one of ours; refuse before decoding. */
export const MAX_GRANT_CHARS = 128;
const KID_RE = /^[A-Za-z0-9_-]{1,32}$/;
const B64URL_RE = /^[A-Za-z0-9_-]+$/;

type KeyLike = SigningKey | PreparedKey;
interface PreparedKey {
  kid: string;
  key: KeyObject;
}

const prepared = new WeakMap<SigningKey, PreparedKey>();
function prepare(k: KeyLike): PreparedKey {
  if ('key' in k) return k;
  let p = prepared.get(k);
  if (!p) {
    // A KeyObject skips re-importing the secret on every HMAC.
    p = { kid: k.kid, key: createSecretKey(Buffer.from(k.secret, 'utf8')) };
    prepared.set(k, p);
  }
  return p;
}

function mac(key: KeyObject, header: Buffer, trackId: string, version: number): Buffer {
  return createHmac('sha256', key).update(header).update(`\0${trackId}\0${version}`).digest();
}

function sessionTag(key: KeyObject, sid: string): Buffer {
  return createHmac('sha256', key).update(`sid\0${sid}`).digest().subarray(0, TAG_BYTES);
}

/** Sign a grant with one key (the first of MEDIA_SIGNING_KEYS). */
export function signGrant(signingKey: SigningKey, claims: GrantClaims): string {
  if (!KID_RE.test(signingKey.kid)) throw new Error('signGrant: kid must be 1-32 of A-Z a-z 0-9 _ -');
  if (!Number.isInteger(claims.version) || claims.version < 0) throw new Error('signGrant: version must be a non-negative integer');
  const k = prepare(signingKey);
  const expSeconds = Math.ceil(claims.exp / 1000);
  if (!(expSeconds > 0 && expSeconds <= 0xffffffff)) throw new Error('signGrant: exp out of range');
  const kid = Buffer.from(signingKey.kid, 'ascii');
  const isBound = claims.sid !== undefined && claims.sid !== '';
  const header = Buffer.alloc(7 + kid.length + (isBound ? TAG_BYTES : 0));
  header[0] = FORMAT;
  header.writeUInt32BE(expSeconds, 1);
  header[5] = isBound ? FLAG_SESSION : 0;
  header[6] = kid.length;
  kid.copy(header, 7);
  if (isBound) sessionTag(k.key, claims.sid!).copy(header, 7 + kid.length);
  return Buffer.concat([header, mac(k.key, header, claims.trackId, claims.version)]).toString('base64url');
}

interface Parsed {
  header: Buffer;
  kid: string;
  expSeconds: number;
  tag: Buffer | null;
  signature: Buffer;
}

function parse(token: string): Parsed | null {
  if (typeof token !== 'string' || token.length < 10 || token.length > MAX_GRANT_CHARS || !B64URL_RE.test(token)) return null;
  const raw = Buffer.from(token, 'base64url');
  if (raw.length < 7 + 1 + MAC_BYTES || raw[0] !== FORMAT) return null;
  const kidLen = raw[6];
  const flags = raw[5];
  if (kidLen < 1 || kidLen > 32 || (flags & ~FLAG_SESSION) !== 0) return null;
  const headerLen = 7 + kidLen + (flags & FLAG_SESSION ? TAG_BYTES : 0);
  if (raw.length !== headerLen + MAC_BYTES) return null;
  const kid = raw.toString('ascii', 7, 7 + kidLen);
  if (!KID_RE.test(kid)) return null;
  return {
    header: raw.subarray(0, headerLen),
    kid,
    expSeconds: raw.readUInt32BE(1),
    tag: flags & FLAG_SESSION ? raw.subarray(7 + kidLen, headerLen) : null,
    signature: raw.subarray(headerLen),
  };
}

function findKey(keys: readonly KeyLike[] | ReadonlyMap<string, KeyLike>, kid: string): PreparedKey | null {
  if (keys instanceof Map) {
    const k = keys.get(kid);
    return k ? prepare(k) : null;
  }
  for (const k of keys as readonly KeyLike[]) if (k.kid === kid) return prepare(k);
  return null;
}

/**
 * Verify a grant against the scope taken from the request path. Every key in `keys` verifies
 * (rotation: add the new key first, keep the old one until its grants have expired, then drop it).
 * The MAC comparison is constant-time.
 */
export function verifyGrant(keys: readonly SigningKey[] | ReadonlyMap<string, SigningKey>, token: string, scope: GrantScope): GrantVerdict {
  return verifyWith(keys, token, scope);
}

function verifyWith(keys: readonly KeyLike[] | ReadonlyMap<string, KeyLike>, token: string, scope: GrantScope): GrantVerdict {
  const p = parse(token);
  if (!p) return { ok: false, reason: 'malformed' };
  const key = findKey(keys, p.kid);
  if (!key) return { ok: false, reason: 'unknown_kid' };
  const expected = mac(key.key, p.header, scope.trackId, scope.version);
  if (!timingSafeEqual(expected, p.signature)) return { ok: false, reason: 'bad_signature' };
  const exp = p.expSeconds * 1000;
  if ((scope.now ?? Date.now()) >= exp) return { ok: false, reason: 'expired' };
  if (scope.sid !== undefined && p.tag && !timingSafeEqual(sessionTag(key.key, scope.sid), p.tag)) {
    return { ok: false, reason: 'session_mismatch' };
  }
  return { ok: true, kid: p.kid, exp, isSessionBound: p.tag !== null };
}

interface CachedGrant {
  trackId: string;
  version: number;
  exp: number;
  /** The verdict handed out on every memo hit (frozen: no allocation per request). */
  verdict: GrantVerdict;
  isSessionBound: boolean;
  /** The last session id this bound grant was checked against successfully. */
  verifiedSid?: string;
}

/**
 * verifyGrant with a bounded memo of grants that already verified: a player fetches hundreds of
 * segments with one grant, so the edge pays for one HMAC per grant rather than per request. Only
 * successes are remembered (a flood of forged tokens cannot fill it with garbage that evicts real
 * ones faster than they are re-verified, and failures are always recomputed). Expiry is re-checked
 * on every hit; the keys are fixed for the verifier's life, so a removed key means a new verifier.
 */
export class GrantVerifier {
  private readonly keys: Map<string, PreparedKey>;
  private readonly memo: GenerationalMap<string, CachedGrant>;

  constructor(
    keys: readonly SigningKey[],
    maxEntries = 50_000,
  ) {
    if (keys.length === 0) throw new Error('GrantVerifier needs at least one key');
    this.keys = new Map(keys.map((k) => [k.kid, prepare(k)]));
    this.memo = new GenerationalMap(maxEntries);
  }

  /** Grants remembered now (never more than maxEntries). */
  get memoSize(): number {
    return this.memo.size;
  }

  verify(token: string, trackId: string, version: number, now: number, sid?: string): GrantVerdict {
    const hit = this.memo.get(token);
    if (hit !== undefined && hit.trackId === trackId && hit.version === version && (sid === undefined || !hit.isSessionBound || hit.verifiedSid === sid)) {
      if (now >= hit.exp) {
        this.memo.delete(token);
        return { ok: false, reason: 'expired' };
      }
      return hit.verdict;
    }
    const v = verifyWith(this.keys, token, { trackId, version, now, sid });
    if (v.ok && hit !== undefined && sid !== undefined) hit.verifiedSid = sid;
    if (v.ok && hit === undefined) {
      this.memo.set(token, { trackId, version, exp: v.exp, verdict: Object.freeze(v), isSessionBound: v.isSessionBound, verifiedSid: sid });
    }
    return v;
  }
}
