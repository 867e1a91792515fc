/**
 * One place decides whether a failure is worth retrying. Permanent errors (bad input, 4xx
 * from Target) go to the dead-letter queue at once; transient ones retry with backoff.
 */
export type ErrorKind = 'permanent' | 'transient';

/** Base error: a stable `code`, a kind, and optionally Target's HTTP status and a body excerpt. */
export class PipelineError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly kind: ErrorKind,
    readonly details: { status?: number; bodyExcerpt?: string; retryAfterMs?: number } = {},
  ) {
    super(message);
    this.name = 'PipelineError';
  }
}

/** Target refused the request for a reason a retry will not fix (400, 401, 403, 404, 413, success=false). */
export class TargetRejectedError extends PipelineError {
  constructor(message: string, status: number, bodyExcerpt: string) {
    super(message, `TARGET_HTTP_${status}`, 'permanent', { status, bodyExcerpt });
    this.name = 'TargetRejectedError';
  }
}

/** Target is throttling or down (408, 429, 5xx), or the connection failed; retry later. */
export class TargetUnavailableError extends PipelineError {
  constructor(
    message: string,
    code: string,
    details: { status?: number; bodyExcerpt?: string; retryAfterMs?: number } = {},
  ) {
    super(message, code, 'transient', details);
    this.name = 'TargetUnavailableError';
  }
}

/**
 * Target refused the credentials (401 or 403): the profile token expired or was
 * regenerated, not "this visitor's data is bad". Never dead-lettered: delivery holds, for
 * every process, until a probe succeeds (P10, src/deliver/credentials-hold.ts).
 */
export class CredentialsRefusedError extends PipelineError {
  constructor(message: string, status: number, bodyExcerpt: string) {
    super(message, 'TARGET_CREDENTIALS_REFUSED', 'transient', { status, bodyExcerpt });
    this.name = 'CredentialsRefusedError';
  }
}

/** HTTP statuses from Target that a retry can fix. */
const TRANSIENT_STATUSES = new Set([408, 425, 429, 500, 502, 503, 504]);

/** Classifies an HTTP status from Target. */
export function classifyStatus(status: number): ErrorKind {
  return TRANSIENT_STATUSES.has(status) || status >= 500 ? 'transient' : 'permanent';
}

/**
 * undici error codes that mean "the request may not have reached Target, or its answer was
 * lost": all safe to retry because profile updates are idempotent (same values, same result).
 */
const TRANSIENT_UNDICI_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
  'UND_ERR_ABORTED',
  'UND_ERR_REQ_RETRY',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/** Turns anything thrown while talking to Target into a PipelineError; never by message text. */
export function classifyError(error: unknown): PipelineError {
  if (error instanceof PipelineError) return error;
  const message = error instanceof Error ? error.message : String(error);
  // The request's overall deadline (AbortSignal.timeout) rejects with a DOMException whose
  // stable identifier is its name; its numeric `code` (23) is a legacy DOM constant.
  const name = typeof error === 'object' && error !== null && 'name' in error ? String(error.name) : undefined;
  const aborted = name === 'TimeoutError' ? 'TARGET_TIMEOUT' : name === 'AbortError' ? 'TARGET_ABORTED' : undefined;
  if (aborted !== undefined) return new TargetUnavailableError(`request to Target did not finish: ${message}`, aborted);
  const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined;
  if (code !== undefined && TRANSIENT_UNDICI_CODES.has(code)) {
    return new TargetUnavailableError(`connection to Target failed: ${message}`, code);
  }
  // Unknown failures are retried: dropping an update on a bug we do not understand is worse
  // than retrying it until the policy is spent and it lands in the dead-letter queue.
  return new PipelineError(message, code ?? 'UNKNOWN', 'transient');
}

/** Parses a Retry-After header (seconds or HTTP date) into milliseconds from `now`. */
export function parseRetryAfter(value: string | string[] | undefined, now: number): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (raw === undefined || raw.trim() === '') return undefined;
  if (/^\d+$/.test(raw.trim())) return Number(raw.trim()) * 1000;
  const at = Date.parse(raw);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * Codes of failures before a request left: it never reached Target. Every other failure of a
 * call may have (`mayLandLater`).
 */
const NOT_SENT_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/**
 * May this failure of a call to Target (a single update) still be applied later
 * (docs/invariants.md, P4)? Adobe documents nothing about a request whose answer was lost or
 * was an error, so (P11) yes for a lost answer (a timeout, a connection cut after sending, a
 * failure we cannot place) and for every 5xx (the 50-a-minute 503 counts bulk and Admin calls,
 * not single updates, so a 503 here may come from an edge that passed the request on); no
 * for a 4xx answer (Target refused it) and for failures before the request left. Pure.
 */
export function mayLandLater(error: PipelineError): boolean {
  const status = error.details.status;
  if (status !== undefined) return status >= 500;
  if (error.kind !== 'transient') return false;
  return !NOT_SENT_CODES.has(error.code);
}

/**
 * May this failed bulk submit still be processed later? As {@link mayLandLater}, but for a
 * 503: for bulk calls Adobe documents it as the answer past the shared 50-a-minute limit, a
 * call it refused (docs/target.md). An answer lost on the way, another 5xx, or an accepted
 * submit without a status link (`TARGET_NO_BATCH_STATUS`) may be processed. Pure.
 */
export function bulkSubmitMayLand(error: PipelineError): boolean {
  return error.details.status !== 503 && mayLandLater(error);
}
