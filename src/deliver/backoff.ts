import type { Job } from 'bullmq';
import type { PipelineError } from '../errors.js';

/**
 * Retry policy of delivery jobs: give up only after both DELIVERY_MAX_ATTEMPTS and
 * DELIVERY_MAX_AGE_MS are spent (P6 in docs/invariants.md).
 */
export interface RetryPolicy {
  /** First retry delay (RETRY_BASE_MS, default 1 s); doubles each attempt. */
  baseDelayMs: number;
  /** Longest delay between two attempts (RETRY_MAX_MS, default 5 min). */
  maxDelayMs: number;
  /** Fraction of the delay drawn at random (0–1; the pipeline uses 0.5), so retries of many jobs spread out. */
  jitter: number;
  /** A job is given up only once it made this many attempts (DELIVERY_MAX_ATTEMPTS, default 12)… */
  maxAttempts: number;
  /** …and is at least this old (DELIVERY_MAX_AGE_MS, default 3 h). */
  maxAgeMs: number;
  /** Longest `Retry-After` honoured; default {@link RETRY_AFTER_MAX_MS}. See {@link honouredRetryAfter}. */
  maxRetryAfterMs?: number;
}

/**
 * The longest `Retry-After` a delivery waits for: 1 hour. Target's documented limits are
 * counted per minute (50 bulk, Admin and Reporting calls a minute; docs/target.md), so a 429
 * or 503 from Target's rate limit asks for seconds to a minute and is honoured in full. A value of hours or a day
 * (`Retry-After: 86400`) comes from a proxy or a maintenance page, not a rate limit; honoured
 * as given it would park a delivery (and, for a bulk 503, every bulk call) for a day while
 * DELIVERY_MAX_AGE_MS is 3 h. Capped, the job still tries again at least hourly; a Target
 * that is still down just answers again, and the retry policy keeps the job until both its
 * attempts and its age are spent. It is above RETRY_MAX_MS (5 min by default), so a
 * Retry-After longer than the backoff still wins up to this cap.
 */
export const RETRY_AFTER_MAX_MS = 3_600_000;

/**
 * The part of a `Retry-After` (ms) that is honoured: at most the policy's `maxRetryAfterMs`
 * ({@link RETRY_AFTER_MAX_MS} by default). Pure.
 */
export function honouredRetryAfter(
  retryAfterMs: number | undefined,
  policy: Pick<RetryPolicy, 'maxRetryAfterMs'>,
): number | undefined {
  if (retryAfterMs === undefined) return undefined;
  return Math.min(retryAfterMs, policy.maxRetryAfterMs ?? RETRY_AFTER_MAX_MS);
}

/**
 * Exponential backoff with jitter that never retries sooner than Target's `Retry-After`:
 * attempt n waits between `(1 − jitter) × d` and `d`, where `d = min(maxDelayMs,
 * baseDelayMs × 2^(n−1))`, or `retryAfterMs` when that is longer, up to the Retry-After cap
 * ({@link honouredRetryAfter}). Pure: `random` is injected.
 */
export function backoffDelay(
  attempt: number,
  policy: RetryPolicy,
  retryAfterMs: number | undefined,
  random: () => number = Math.random,
): number {
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  const jitter = Math.min(1, Math.max(0, policy.jitter));
  const jittered = exp * (1 - jitter * random());
  // Rounded up, so a fractional Retry-After is never undercut by rounding.
  return Math.ceil(Math.max(jittered, honouredRetryAfter(retryAfterMs, policy) ?? 0));
}

/** BullMQ `backoffStrategy` for the custom backoff type `target`. */
export function targetBackoffStrategy(policy: RetryPolicy, random: () => number = Math.random) {
  return (attemptsMade: number, _type?: string, error?: Error): number => {
    const retryAfterMs = (error as PipelineError | undefined)?.details?.retryAfterMs;
    return backoffDelay(attemptsMade, policy, retryAfterMs, random);
  };
}

type AttemptCounts = Pick<Job, 'attemptsMade' | 'attemptsStarted'>;

/**
 * Which run of the job this is, counting every run: BullMQ's own retries, the delayed runs
 * a job schedules itself once BullMQ's attempts are spent (`moveToDelayed` does not count
 * those in `attemptsMade`), runs that only waited for a budget, and runs redone after a
 * worker died. BullMQ counts every start in `attemptsStarted`.
 */
export function attemptNumber(job: AttemptCounts): number {
  return Math.max(job.attemptsMade + 1, job.attemptsStarted);
}

/** True when a failing job has spent both its attempts and its age budget. */
export function retriesSpent(
  job: Pick<Job, 'attemptsMade' | 'timestamp'>,
  policy: RetryPolicy,
  now = Date.now(),
): boolean {
  return job.attemptsMade + 1 >= policy.maxAttempts && now - job.timestamp >= policy.maxAgeMs;
}

/** True when BullMQ would fail the job for good on this attempt (its `attempts` reached). */
export function lastBullAttempt(job: Pick<Job, 'attemptsMade' | 'opts'>): boolean {
  return job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
}

/**
 * What a failed delivery does next:
 * - `dead-letter`: a permanent error (no retry can fix it), or a transient one after both
 *   the attempts and the age limit are spent;
 * - `bull-retry`: BullMQ retries it (its `target` backoff honours Retry-After);
 * - `delay`: BullMQ's attempts are spent but the job is not old enough yet, so it
 *   schedules itself again after `delayMs`.
 */
export type RetryDecision =
  | { action: 'dead-letter'; reason: 'permanent' | 'retries-spent' }
  | { action: 'bull-retry' }
  | { action: 'delay'; delayMs: number };

/** Decides {@link RetryDecision} for a failed attempt. Pure. */
export function decideRetry(
  job: Pick<Job, 'attemptsMade' | 'attemptsStarted' | 'timestamp' | 'opts'>,
  policy: RetryPolicy,
  error: Pick<PipelineError, 'kind' | 'details'>,
  now = Date.now(),
  random: () => number = Math.random,
): RetryDecision {
  if (error.kind === 'permanent') return { action: 'dead-letter', reason: 'permanent' };
  if (retriesSpent(job, policy, now)) return { action: 'dead-letter', reason: 'retries-spent' };
  if (!lastBullAttempt(job)) return { action: 'bull-retry' };
  return { action: 'delay', delayMs: backoffDelay(attemptNumber(job), policy, error.details.retryAfterMs, random) };
}
