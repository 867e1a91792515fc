import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * Who an admin credential belongs to: `admin` (ADMIN_TOKEN) may change things, `readonly`
 * (ADMIN_READONLY_TOKEN) may only look.
 */
export type AdminRole = 'admin' | 'readonly';

/** Realm of the Basic challenge; browsers show it in the login dialog. */
export const ADMIN_REALM = 'target-ingest';

export interface AdminTokens {
  admin?: string | undefined;
  readonly?: string | undefined;
}

/**
 * The secret carried by an `Authorization` header: `Bearer <token>`, or HTTP Basic with
 * the token as password and any user name (so a browser's login dialog works). A Basic
 * value without a colon is taken whole, for clients that send only the token.
 */
export function credentialFrom(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^\s*(Bearer|Basic)\s+(\S+)\s*$/i.exec(header);
  if (match === null) return undefined;
  const [, scheme = '', value = ''] = match;
  if (scheme.toLowerCase() === 'bearer') return value;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const secret = colon >= 0 ? decoded.slice(colon + 1) : decoded;
  return secret === '' ? undefined : secret;
}

/** Hashing first makes both sides the same length, so the comparison's time says nothing about the token. */
function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The role a credential grants, or undefined. Both tokens are always compared (no early exit). */
export function roleFor(credential: string | undefined, tokens: AdminTokens): AdminRole | undefined {
  if (credential === undefined) return undefined;
  const isAdmin = tokens.admin !== undefined && sameSecret(credential, tokens.admin);
  const isReadonly = tokens.readonly !== undefined && sameSecret(credential, tokens.readonly);
  if (isAdmin) return 'admin';
  return isReadonly ? 'readonly' : undefined;
}

export interface AdminGuardOptions {
  tokens: AdminTokens;
  /** Roles let in. */
  allow: readonly AdminRole[];
  /** Only GET and HEAD pass (the read-only dashboard), whoever asks. */
  readOnly?: boolean;
  /** Where a read-only credential should go instead (named in the 403 message). */
  readonlyPath?: string;
}

/**
 * An `onRequest` hook for admin routes. Without a valid credential: 401 with a Basic
 * challenge, so a browser asks for a login. With a valid one that lacks the role: 403 that
 * says where to go. Tokens are never logged or echoed.
 */
export function adminGuard(options: AdminGuardOptions) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const role = roleFor(credentialFrom(request.headers.authorization), options.tokens);
    if (role === undefined) {
      await reply.code(401).header('www-authenticate', `Basic realm="${ADMIN_REALM}", charset="UTF-8"`).send({
        error: 'unauthorized',
        message:
          'admin credentials required: send ADMIN_TOKEN as a Bearer token, or log in with any user name and the token as password',
      });
      return;
    }
    if (!options.allow.includes(role)) {
      const where = options.readonlyPath !== undefined ? `: the read-only dashboard is at ${options.readonlyPath}` : '';
      await reply.code(403).send({ error: 'forbidden', message: `these credentials are read-only${where}` });
      return;
    }
    if (options.readOnly === true && request.method !== 'GET' && request.method !== 'HEAD') {
      await reply.code(403).send({ error: 'forbidden', message: 'the read-only dashboard cannot change anything' });
    }
  };
}

/**
 * Only `application/json`. A browser sends `text/plain`, `application/x-www-form-urlencoded`
 * and `multipart/form-data` cross-site without a CORS preflight, and with cached Basic
 * credentials; a JSON request from another origin needs a preflight this server never grants.
 */
export async function requireJson(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (reply.sent) return; // the credential check already answered
  const mediaType = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (mediaType === 'application/json') return;
  await reply
    .code(415)
    .send({ error: 'unsupported_media_type', message: 'send the request as Content-Type: application/json' });
}
