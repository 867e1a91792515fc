import { randomBytes } from 'node:crypto';

/**
 * Credentials of the simulated account.
 *
 * The profile authentication token (what Adobe documents): with "Require Authentication"
 * on, every profile API call carries `Authorization: Bearer <token>`; the token "expires
 * according to the time listed in the Expires In box"; regenerating it (Target UI, or the
 * Admin API's POST) makes calls with the old one fail at once. What the simulator does:
 * authentication is required when the `authToken` option is set or once the token was
 * set, regenerated or expired at run time (`POST /_simulator/token`, the Admin API, or
 * these methods); `tokenLifetimeMs` expires a token by the clock after it was issued.
 *
 * IMS access tokens (Adobe IMS, OAuth server-to-server) are what the Admin API wants; the
 * simulator issues them for 24 hours by its clock (IMS answers `expires_in` in seconds).
 */

/** Why a profile call's credentials fail, or `ok`. */
export type TokenCheck = 'ok' | 'missing' | 'invalid' | 'expired';

/** What the Admin API reports when no lifetime is configured: Adobe's example (90 days, in seconds). */
export const UNBOUNDED_EXPIRES_IN_SECONDS = 7_775_999;

/** IMS access tokens live 24 hours (what IMS answers for server-to-server credentials). */
export const IMS_TOKEN_LIFETIME_MS = 24 * 3600_000;

function newToken(): string {
  return randomBytes(24).toString('base64url');
}

/** The `Bearer` credential of an Authorization header (scheme in any case), if any. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  return /^bearer\s+(.+)$/i.exec(header.trim())?.[1];
}

/** The profile authentication token of the account. */
export class ProfileTokenState {
  private token: string;
  private required: boolean;
  private issuedAt: number;
  private expiredByHand = false;
  private readonly lifetimeMs: number | undefined;

  constructor(
    options: { token?: string; lifetimeMs?: number },
    private readonly now: () => number,
  ) {
    this.token = options.token ?? newToken();
    this.required = options.token !== undefined;
    this.issuedAt = now();
    this.lifetimeMs = options.lifetimeMs;
  }

  /** Whether profile calls must carry the token. */
  get isRequired(): boolean {
    return this.required;
  }

  /** The current token (valid or not). */
  get current(): string {
    return this.token;
  }

  /** Checks the Authorization header of a profile call. */
  check(authorization: string | undefined): TokenCheck {
    if (!this.required) return 'ok';
    const given = bearerToken(authorization);
    if (given === undefined) return 'missing';
    if (given !== this.token) return 'invalid';
    return this.hasExpired() ? 'expired' : 'ok';
  }

  /** A new token; the old one stops working at once. Turns authentication on. */
  regenerate(): string {
    this.set(newToken());
    return this.token;
  }

  /** Sets the token (issued now). Turns authentication on. */
  set(token: string): void {
    this.token = token;
    this.issuedAt = this.now();
    this.expiredByHand = false;
    this.required = true;
  }

  /** The current token stops working (calls get the auth failure) until set or regenerated. */
  expire(): void {
    this.expiredByHand = true;
    this.required = true;
  }

  /** Whole seconds the current token has left (see {@link UNBOUNDED_EXPIRES_IN_SECONDS}). */
  expiresInSeconds(): number {
    if (this.expiredByHand) return 0;
    if (this.lifetimeMs === undefined) return UNBOUNDED_EXPIRES_IN_SECONDS;
    return Math.max(0, Math.floor((this.issuedAt + this.lifetimeMs - this.now()) / 1000));
  }

  private hasExpired(): boolean {
    return this.expiredByHand || (this.lifetimeMs !== undefined && this.now() >= this.issuedAt + this.lifetimeMs);
  }
}

/** IMS access tokens issued by the simulated IMS. */
export class ImsTokens {
  private readonly issued = new Map<string, number>();

  constructor(private readonly now: () => number) {}

  /** Issues a token valid for {@link IMS_TOKEN_LIFETIME_MS}. */
  issue(): { token: string; expiresInSeconds: number } {
    const now = this.now();
    for (const [token, until] of this.issued) if (until <= now) this.issued.delete(token);
    const token = newToken();
    this.issued.set(token, now + IMS_TOKEN_LIFETIME_MS);
    return { token, expiresInSeconds: Math.floor(IMS_TOKEN_LIFETIME_MS / 1000) - 1 };
  }

  /** Whether `token` was issued here and has not expired. */
  isValid(token: string | undefined): boolean {
    if (token === undefined) return false;
    const until = this.issued.get(token);
    return until !== undefined && this.now() < until;
  }
}
