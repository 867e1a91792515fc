import { request, type Dispatcher } from 'undici';
import type { Logger } from '../logger.js';
import { addRuntimeSecret } from '../redact.js';
import { TokenSourceError, tokenFingerprint, type RefreshableTokenSource } from './token-source.js';

/**
 * The profile token from Target's Admin API (documented): an Adobe IMS access token from
 * OAuth server-to-server credentials (`POST <ims>/ims/token/v3`, cached until shortly before
 * it expires), then `GET <admin>/<tenant>/target/authentication/token?authorizationScope=profile_api`
 * with it and `x-api-key: <client id>`. The token is read again on `refresh()` (the
 * credentials hold calls it on a 401/403) and by itself at half the life it has left, at
 * least a minute and at most an hour apart.
 *
 * `POST` on the same path regenerates the token, which breaks every other system using the
 * old one, so it happens only when allowed (`regenerate`) and when the token has less than
 * `regenerateBeforeMs` left, by one process at a time (`claimRegenerate`).
 *
 * Adobe counts Admin API calls in the account's 50 a minute, so each one takes room from
 * the shared bulk budget first (`reserve`), waiting while there is none. IMS calls do not
 * count (IMS is not a Target API).
 */

export interface AdminTokenOptions {
  /** TARGET_IMS_CLIENT_ID: the credential's client id, also the Admin API's x-api-key. */
  clientId: string;
  /** TARGET_IMS_CLIENT_SECRET; never logged, never in an error. */
  clientSecret: string;
  /** TARGET_IMS_SCOPES, comma-separated. */
  scopes: string;
  /** TARGET_ADMIN_TENANT. */
  tenant: string;
  /** TARGET_IMS_URL, the full token endpoint. */
  imsUrl: string;
  /** TARGET_ADMIN_URL, without a trailing slash. */
  adminUrl: string;
  /** Takes room for `n` Admin API calls from the shared bulk budget (`budgets.bulk.reserve`). */
  reserve: (n: number) => Promise<{ granted: boolean; retryInMs: number }>;
  /** TARGET_TOKEN_REGENERATE. Default false. */
  regenerate?: boolean;
  /** TARGET_TOKEN_REGENERATE_BEFORE_MS. Default 24 h. */
  regenerateBeforeMs?: number;
  /** Resolves true for the one process that may regenerate now (a lock shared through Redis). Default: always true. */
  claimRegenerate?: () => Promise<boolean>;
  /** HTTP dispatcher (src/target/dispatcher.ts, for the egress proxy). Default undici's global one. */
  dispatcher?: Dispatcher;
  /** Per-request timeout. Default 10 s. */
  timeoutMs?: number;
  logger: Logger;
  /** `refresh()` reads the Admin API at most this often; calls in between resolve false. Default 15 s. */
  minRefreshIntervalMs?: number;
  /** Bounds of the periodic read (half the token's remaining life). Default 60 s and 1 h. */
  minReadIntervalMs?: number;
  maxReadIntervalMs?: number;
  /** Clock. Default `Date.now`. */
  now?: () => number;
}

export interface AdminTokenSource extends RefreshableTokenSource {
  /**
   * The first read. Rejects with {@link TokenSourceError} when Adobe refuses the credentials
   * (IMS: wrong id or secret; Admin API: 401/403/404, a tenant or product profile problem);
   * any other failure is logged and retried in the background.
   */
  start(): Promise<void>;
  /** When the current token expires (epoch ms, by the Admin API's `expiresIn` at the last read); undefined before one. */
  expiresAt(): number | undefined;
}

/** A refusal that a retry will not fix is `permanent`; the rest is retried. */
class AdminCallError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly permanent: boolean,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'AdminCallError';
  }
}

interface ImsToken {
  token: string;
  /** Epoch ms after which it is fetched again (a margin before its expiry). */
  renewAt: number;
}

interface ProfileTokenAnswer {
  accessToken: string;
  expiresInSeconds: number;
}

const IMS_RENEW_MARGIN_MS = 5 * 60_000;
const FAILURE_BACKOFF_MAX_MS = 15 * 60_000;
/** Characters of an error message from Adobe kept in our errors and logs. */
const ADOBE_MESSAGE_CHARS = 160;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Builds the source; nothing is called until `start()`. */
export function createAdminTokenSource(options: AdminTokenOptions): AdminTokenSource {
  const now = options.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const minRefreshMs = options.minRefreshIntervalMs ?? 15_000;
  const minReadMs = options.minReadIntervalMs ?? 60_000;
  const maxReadMs = options.maxReadIntervalMs ?? 3_600_000;
  const regenerateBeforeMs = options.regenerateBeforeMs ?? 24 * 3600_000;
  const log = options.logger.child({ tokenSource: 'admin-api', tenant: options.tenant });
  const closing = new AbortController();
  addRuntimeSecret(options.clientSecret);

  let token: string | undefined;
  let expiresAt: number | undefined;
  let ims: ImsToken | undefined;
  let lastAttemptAt = -Infinity;
  let failures = 0;
  // Lowered when the account's tokens live shorter than regenerateBeforeMs, so that a fresh
  // token is not regenerated again at every read.
  let regenerateBelowMs = regenerateBeforeMs;
  let inFlight: Promise<AdminCallError | undefined> | undefined;
  let timer: NodeJS.Timeout | undefined;

  /** Adobe's message for a log line: short, and with every secret we hold cut out. */
  const adobeMessage = (text: string): string => {
    let out = text.slice(0, ADOBE_MESSAGE_CHARS);
    for (const secret of [options.clientSecret, ims?.token, token])
      if (secret !== undefined && secret !== '') out = out.split(secret).join('[redacted]');
    return out;
  };

  const call = async (
    method: 'GET' | 'POST',
    url: string,
    headers: Record<string, string>,
    body?: string,
  ): Promise<{ status: number; json: Record<string, unknown> }> => {
    let response;
    try {
      response = await request(url, {
        method,
        headers,
        body,
        ...(options.dispatcher !== undefined ? { dispatcher: options.dispatcher } : {}),
        signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), closing.signal]),
      });
    } catch (error) {
      if (closing.signal.aborted) throw error;
      const code =
        typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : 'ADMIN_API_UNREACHABLE';
      throw new AdminCallError(`${new URL(url).host} did not answer (${code})`, code, false);
    }
    const text = await response.body.text();
    let json: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === 'object' && parsed !== null) json = parsed as Record<string, unknown>;
    } catch {
      // A non-JSON answer (a proxy's error page) leaves json empty; the status says enough.
    }
    return { status: response.statusCode, json };
  };

  const imsToken = async (): Promise<string> => {
    if (ims !== undefined && now() < ims.renewAt) return ims.token;
    const form = new URLSearchParams({
      client_id: options.clientId,
      client_secret: options.clientSecret,
      grant_type: 'client_credentials',
      scope: options.scopes,
    });
    const { status, json } = await call(
      'POST',
      options.imsUrl,
      { 'content-type': 'application/x-www-form-urlencoded' },
      form.toString(),
    );
    if (status === 200 && typeof json.access_token === 'string' && json.access_token !== '') {
      addRuntimeSecret(json.access_token);
      const lifetimeMs = (typeof json.expires_in === 'number' ? json.expires_in : 3600) * 1000;
      ims = { token: json.access_token, renewAt: now() + Math.max(lifetimeMs - IMS_RENEW_MARGIN_MS, lifetimeMs / 2) };
      return ims.token;
    }
    const error = typeof json.error === 'string' && /^[a-z_]{1,64}$/.test(json.error) ? ` ${json.error}` : '';
    if (status === 400 || status === 401 || status === 403) {
      throw new AdminCallError(
        `Adobe IMS refused the credentials (HTTP ${status}${error}): check TARGET_IMS_CLIENT_ID, TARGET_IMS_CLIENT_SECRET and TARGET_IMS_SCOPES`,
        'IMS_CREDENTIALS_REFUSED',
        true,
        status,
      );
    }
    throw new AdminCallError(`Adobe IMS answered HTTP ${status}${error}`, 'IMS_UNAVAILABLE', false, status);
  };

  /** Waits until the shared bulk budget has room for one Admin API call, and takes it. */
  const takeBudget = async (): Promise<void> => {
    for (;;) {
      const room = await options.reserve(1);
      if (room.granted) return;
      log.debug({ retryInMs: room.retryInMs }, 'Admin API call waits for the shared bulk budget');
      await sleep(Math.max(room.retryInMs, 50), closing.signal);
    }
  };

  const profileToken = async (method: 'GET' | 'POST'): Promise<ProfileTokenAnswer> => {
    const url = `${options.adminUrl}/${encodeURIComponent(options.tenant)}/target/authentication/token?authorizationScope=profile_api`;
    for (let attempt = 1; ; attempt += 1) {
      const cached = ims !== undefined && now() < ims.renewAt;
      const bearer = await imsToken();
      await takeBudget();
      const { status, json } = await call(method, url, {
        authorization: `Bearer ${bearer}`,
        'x-api-key': options.clientId,
      });
      if (status === 200 && typeof json.accessToken === 'string' && json.accessToken !== '') {
        const expiresIn = typeof json.expiresIn === 'number' && Number.isFinite(json.expiresIn) ? json.expiresIn : 0;
        return { accessToken: json.accessToken, expiresInSeconds: Math.max(0, expiresIn) };
      }
      // IMS may revoke a token before its time: a cached one refused once gets one fresh retry.
      if (status === 401 && cached && attempt === 1) {
        ims = undefined;
        continue;
      }
      const detail = typeof json.message === 'string' ? `: ${adobeMessage(json.message)}` : '';
      const what = `Target Admin API answered HTTP ${status} to ${method} the profile token${detail}`;
      if (status === 200)
        throw new AdminCallError(`${what} without an accessToken`, 'ADMIN_API_BAD_ANSWER', false, status);
      if ([400, 401, 403, 404].includes(status)) {
        throw new AdminCallError(
          `${what} (check TARGET_ADMIN_TENANT and that the credential's product profile includes Target)`,
          'ADMIN_API_REFUSED',
          true,
          status,
        );
      }
      throw new AdminCallError(what, 'ADMIN_API_UNAVAILABLE', false, status);
    }
  };

  const adopt = (answer: ProfileTokenAnswer, how: string): void => {
    addRuntimeSecret(answer.accessToken);
    expiresAt = now() + answer.expiresInSeconds * 1000;
    if (answer.accessToken !== token) {
      const previous = token === undefined ? undefined : tokenFingerprint(token);
      token = answer.accessToken;
      log.info(
        { fingerprint: tokenFingerprint(token), previous, expiresInSeconds: answer.expiresInSeconds },
        `profile token ${how} from the Target Admin API`,
      );
    }
  };

  const readOnce = async (): Promise<void> => {
    lastAttemptAt = now();
    const answer = await profileToken('GET');
    adopt(answer, 'read');
    if (options.regenerate === true && answer.expiresInSeconds * 1000 < regenerateBelowMs) {
      if (await (options.claimRegenerate ?? (() => Promise.resolve(true)))()) {
        log.warn(
          { expiresInSeconds: answer.expiresInSeconds, regenerateBeforeMs: regenerateBelowMs },
          'regenerating the profile token (TARGET_TOKEN_REGENERATE): every other system using the old one now gets 401 until it reads the new one',
        );
        const fresh = await profileToken('POST');
        adopt(fresh, 'regenerated');
        if (fresh.expiresInSeconds * 1000 < regenerateBelowMs) {
          regenerateBelowMs = (fresh.expiresInSeconds * 1000) / 2;
          log.warn(
            { expiresInSeconds: fresh.expiresInSeconds, regenerateBeforeMs },
            'a new profile token lives shorter than TARGET_TOKEN_REGENERATE_BEFORE_MS: regenerating at half its life instead',
          );
        }
      } else {
        log.info('another process is regenerating the profile token');
      }
    }
  };

  const schedule = (delayMs: number): void => {
    if (closing.signal.aborted) return;
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      void read();
    }, delayMs);
    timer.unref();
  };

  const nextReadMs = (): number => {
    if (failures > 0) return Math.min(minReadMs * 2 ** (failures - 1), FAILURE_BACKOFF_MAX_MS);
    const left = (expiresAt ?? now()) - now();
    const until = options.regenerate === true ? Math.min(left / 2, left - regenerateBelowMs) : left / 2;
    return Math.min(Math.max(until, minReadMs), maxReadMs);
  };

  /** One read at a time; never rejects (failures are logged, and returned); schedules the next. */
  const read = (): Promise<AdminCallError | undefined> => {
    inFlight ??= (async () => {
      try {
        await readOnce();
        if (failures > 0) log.info('Target Admin API readable again');
        failures = 0;
        return undefined;
      } catch (error) {
        if (closing.signal.aborted) return undefined;
        failures += 1;
        const e =
          error instanceof AdminCallError ? error : new AdminCallError(String(error), 'ADMIN_API_FAILED', false);
        // The first failure of a streak is loud, repeats are not: the hold says the rest.
        const level = failures === 1 ? 'warn' : 'debug';
        log[level]({ code: e.code, status: e.status, failures }, `profile token not read: ${e.message}`);
        return e;
      } finally {
        inFlight = undefined;
        schedule(nextReadMs());
      }
    })();
    return inFlight;
  };
  return {
    current: () => token,
    expiresAt: () => expiresAt,
    async start() {
      const failure = await read();
      if (token === undefined && failure?.permanent === true) throw new TokenSourceError(failure.message, failure.code);
    },
    async refresh() {
      if (closing.signal.aborted) return false;
      const before = token;
      if (inFlight === undefined && now() - lastAttemptAt < minRefreshMs) return false;
      await read();
      return token !== before;
    },
    async close() {
      closing.abort(new Error('the admin token source is closed'));
      if (timer !== undefined) clearTimeout(timer);
      await inFlight;
    },
  };
}
