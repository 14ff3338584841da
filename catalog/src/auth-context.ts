/**
 * Who is calling: the catalog's authentication hook sets `request.user` (from the `sid` cookie with
 * CSRF double-submit on writes, or from `Authorization: Bearer`); every other route plugin reads it
 * through these helpers.
 */
import type { FastifyRequest } from 'fastify';
import { AppError } from '@platform/errors';

export type Role = 'listener' | 'musician' | 'admin';

export interface SessionUser {
  id: string;
  email: string;
  displayName: string;
  role: Role;
  /** The musician's artist profile id, when the user is a musician. */
  artistId: string | null;
  /** Session id (cookie sessions) or token id (API tokens). */
  sessionId: string;
  via: 'cookie' | 'token';
}

declare module 'fastify' {
  interface FastifyRequest {
    user: SessionUser | null;
  }
}

export function requireUser(request: FastifyRequest): SessionUser {
  if (!request.user) throw new AppError('unauthenticated', 'Sign in first: this needs a session cookie or an API token.');
  return request.user;
}

export function requireRole(request: FastifyRequest, ...roles: Role[]): SessionUser {
  const user = requireUser(request);
  if (!roles.includes(user.role) && user.role !== 'admin') {
    throw new AppError('forbidden', `This needs a ${roles.join(' or ')} account.`);
  }
  return user;
}
