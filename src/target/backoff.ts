import type { Job } from 'bullmq';
import type { PipelineError } from '../errors.js';

/** Retry policy of delivery jobs (issue: give up only after both the attempts and the age are spent). */
export interface RetryPolicy {
  /** First retry delay; doubles each attempt. */
  baseDelayMs: number;
  /** Longest delay between two attempts. */
  maxDelayMs: number;
  /** Fraction of the delay drawn at random (0–1), so retries of many jobs spread out. */
  jitter: number;
  /** A job is given up only once it made this many attempts… */
  maxAttempts: number;
  /** …and is at least this old. */
  maxAgeMs: number;
}

/**
 * Exponential backoff with jitter that never retries sooner than Target's `Retry-After`.
 * Pure: `random` is injected.
 */
export function backoffDelay(attempt: number, policy: RetryPolicy, retryAfterMs: number | undefined, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  const jittered = exp * (1 - policy.jitter * random());
  return Math.round(Math.max(jittered, retryAfterMs ?? 0));
}

/** BullMQ `backoffStrategy` for the custom backoff type `target`. */
export function targetBackoffStrategy(policy: RetryPolicy) {
  return (attemptsMade: number, _type?: string, error?: Error): number => {
    const retryAfterMs = (error as PipelineError | undefined)?.details?.retryAfterMs;
    return backoffDelay(attemptsMade, policy, retryAfterMs);
  };
}

/** True when a failing job has spent both its attempts and its age budget. */
export function retriesSpent(job: Pick<Job, 'attemptsMade' | 'timestamp'>, policy: RetryPolicy, now = Date.now()): boolean {
  return job.attemptsMade + 1 >= policy.maxAttempts && now - job.timestamp >= policy.maxAgeMs;
}

/** True when BullMQ would fail the job for good on this attempt (its `attempts` reached). */
export function lastBullAttempt(job: Pick<Job, 'attemptsMade' | 'opts'>): boolean {
  return job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
}
