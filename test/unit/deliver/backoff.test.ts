import { describe, expect, it } from 'vitest';
import { PipelineError, TargetRejectedError, TargetUnavailableError } from '../../../src/errors.js';
import { Random } from '../../harness/workload.js';
import {
  attemptNumber,
  backoffDelay,
  decideRetry,
  honouredRetryAfter,
  RETRY_AFTER_MAX_MS,
  targetBackoffStrategy,
  type RetryPolicy,
} from '../../../src/deliver/backoff.js';

const policy: RetryPolicy = {
  baseDelayMs: 1000,
  maxDelayMs: 60_000,
  jitter: 0.5,
  maxAttempts: 10,
  maxAgeMs: 3 * 3600_000,
};
const transient = new TargetUnavailableError('Target answered 503', 'TARGET_HTTP_503', { status: 503 });
const throttled = (retryAfterMs: number) =>
  new TargetUnavailableError('Target answered 429', 'TARGET_HTTP_429', { status: 429, retryAfterMs });

/** A delivery job as BullMQ hands it to the processor. */
function job(attemptsMade: number, ageMs: number, now: number, attemptsStarted = attemptsMade + 1) {
  return { attemptsMade, attemptsStarted, timestamp: now - ageMs, opts: { attempts: policy.maxAttempts } };
}

describe('backoffDelay', () => {
  it('doubles from the base delay up to the cap when no jitter is drawn', () => {
    const none = () => 0;
    const delays = [1, 2, 3, 4, 5, 6, 7, 8, 12, 40].map((n) => backoffDelay(n, policy, undefined, none));
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000, 60_000]);
    // Attempt 0 (or less) is the first retry's delay, not a fraction of it.
    expect(backoffDelay(0, policy, undefined, none)).toBe(1000);
  });

  it('draws jitter within (1 − jitter) × delay … delay, and spreads it', () => {
    const random = new Random(42);
    for (let attempt = 1; attempt <= 12; attempt += 1) {
      const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
      const drawn = Array.from({ length: 200 }, () => backoffDelay(attempt, policy, undefined, () => random.next()));
      for (const d of drawn) {
        expect(d).toBeGreaterThanOrEqual(Math.floor(cap * (1 - policy.jitter)));
        expect(d).toBeLessThanOrEqual(cap);
      }
      // Not one value for every job: retries of many jobs spread out.
      expect(new Set(drawn).size).toBeGreaterThan(50);
    }
    // The extremes of the draw are the bounds.
    expect(backoffDelay(3, policy, undefined, () => 0)).toBe(4000);
    expect(backoffDelay(3, policy, undefined, () => 1)).toBe(2000);
  });

  it('still grows with jitter: the shortest delay of attempt n + 1 is not below the shortest of attempt n', () => {
    for (let attempt = 1; attempt < 10; attempt += 1) {
      expect(backoffDelay(attempt + 1, policy, undefined, () => 1)).toBeGreaterThanOrEqual(
        backoffDelay(attempt, policy, undefined, () => 1),
      );
    }
  });

  it('keeps a jitter outside 0–1 from producing negative or longer delays', () => {
    expect(backoffDelay(1, { ...policy, jitter: 3 }, undefined, () => 1)).toBe(0);
    expect(backoffDelay(1, { ...policy, jitter: -1 }, undefined, () => 1)).toBe(1000);
  });

  it('is never below Retry-After, whatever the attempt, the draw or the cap', () => {
    const random = new Random(7);
    for (const retryAfterMs of [1, 999, 1000, 1500, 5000, 59_999, 120_000, 3_600_000, 1234.4]) {
      for (let attempt = 1; attempt <= 15; attempt += 1) {
        const d = backoffDelay(attempt, policy, retryAfterMs, () => random.next());
        expect(d, `attempt ${attempt}, Retry-After ${retryAfterMs} ms`).toBeGreaterThanOrEqual(retryAfterMs);
      }
    }
    // Past the cap: Retry-After wins over RETRY_MAX_MS.
    expect(backoffDelay(1, policy, 120_000, () => 0)).toBe(120_000);
    // Shorter than the backoff: the backoff stands.
    expect(backoffDelay(5, policy, 1000, () => 0)).toBe(16_000);
  });
});

describe('targetBackoffStrategy (BullMQ backoff type "target")', () => {
  it('takes Retry-After from the classified error and grows with the attempts BullMQ passes (1 for the first retry)', () => {
    const strategy = targetBackoffStrategy(policy, () => 0);
    expect(strategy(1, 'target', transient)).toBe(1000);
    expect(strategy(4, 'target', transient)).toBe(8000);
    expect(strategy(1, 'target', throttled(30_000))).toBe(30_000);
  });

  it('backs off plainly for errors that carry no details (e.g. a Redis error)', () => {
    const strategy = targetBackoffStrategy(policy, () => 0);
    expect(strategy(2, 'target', new Error('Connection is closed.'))).toBe(2000);
    expect(strategy(2, 'target')).toBe(2000);
  });
});

describe('Retry-After is honoured up to a cap (RETRY_AFTER_MAX_MS)', () => {
  const day = 86_400_000;

  it('a Retry-After of a day waits the cap (1 h by default), not a day', () => {
    expect(RETRY_AFTER_MAX_MS).toBe(3_600_000);
    expect(backoffDelay(1, policy, day, () => 0)).toBe(RETRY_AFTER_MAX_MS);
    expect(targetBackoffStrategy(policy, () => 0)(1, 'target', throttled(day))).toBe(RETRY_AFTER_MAX_MS);
    const now = Date.UTC(2026, 11, 1);
    expect(decideRetry(job(policy.maxAttempts - 1, 60_000, now), policy, throttled(day), now, () => 0)).toEqual({
      action: 'delay',
      delayMs: RETRY_AFTER_MAX_MS,
    });
  });

  it('the policy may set its own cap; the backoff still applies when it is longer', () => {
    const capped = { ...policy, maxRetryAfterMs: 90_000 };
    expect(backoffDelay(1, capped, day, () => 0)).toBe(90_000);
    // A 429 from Target's rate limit (seconds to a minute) is honoured in full below the cap.
    expect(backoffDelay(1, capped, 30_000, () => 0)).toBe(30_000);
    expect(backoffDelay(1, capped, 90_000, () => 0)).toBe(90_000);
    // A cap below the backoff never shortens the backoff.
    expect(backoffDelay(12, { ...policy, maxRetryAfterMs: 1000 }, day, () => 0)).toBe(policy.maxDelayMs);
  });

  it('honouredRetryAfter: undefined stays undefined, below the cap unchanged, above it the cap', () => {
    expect(honouredRetryAfter(undefined, policy)).toBeUndefined();
    expect(honouredRetryAfter(1500, policy)).toBe(1500);
    expect(honouredRetryAfter(day, policy)).toBe(RETRY_AFTER_MAX_MS);
    expect(honouredRetryAfter(day, { maxRetryAfterMs: 5000 })).toBe(5000);
  });
});

describe('decideRetry: give up only when both the attempts and the age are spent', () => {
  const now = Date.UTC(2026, 11, 1);

  it('does not give up when only the attempts are spent: it schedules itself again', () => {
    // Attempt 10 of a 1 s base is past the 60 s cap.
    expect(decideRetry(job(policy.maxAttempts - 1, 60_000, now), policy, transient, now, () => 0)).toEqual({
      action: 'delay',
      delayMs: 60_000,
    });
    // Any number of runs short of the age: still not given up.
    expect(decideRetry(job(policy.maxAttempts - 1, policy.maxAgeMs - 1, now, 500), policy, transient, now).action).toBe(
      'delay',
    );
  });

  it('does not give up when only the age is spent: BullMQ retries it', () => {
    expect(decideRetry(job(2, policy.maxAgeMs + 1, now), policy, transient, now)).toEqual({ action: 'bull-retry' });
  });

  it('gives up once both are spent, on the attempt that reaches them', () => {
    expect(decideRetry(job(policy.maxAttempts - 1, policy.maxAgeMs, now), policy, transient, now)).toEqual({
      action: 'dead-letter',
      reason: 'retries-spent',
    });
    expect(decideRetry(job(policy.maxAttempts - 2, policy.maxAgeMs, now), policy, transient, now)).toEqual({
      action: 'bull-retry',
    });
    expect(decideRetry(job(policy.maxAttempts - 1, policy.maxAgeMs - 1, now), policy, transient, now).action).toBe(
      'delay',
    );
  });

  it('a permanent error skips every retry, on the first attempt', () => {
    const rejected = new TargetRejectedError('Target answered 400', 400, '<error/>');
    expect(decideRetry(job(0, 0, now), policy, rejected, now)).toEqual({ action: 'dead-letter', reason: 'permanent' });
    expect(
      decideRetry(job(0, 0, now), policy, new PipelineError('bad file', 'BULK_FILE_INVALID', 'permanent'), now).action,
    ).toBe('dead-letter');
  });

  it('a self-scheduled retry honours Retry-After too', () => {
    const decision = decideRetry(job(policy.maxAttempts - 1, 60_000, now), policy, throttled(600_000), now, () => 0);
    expect(decision).toEqual({ action: 'delay', delayMs: 600_000 });
  });

  it('a job failing forever runs through all its attempts and its age, then is dead-lettered (simulated clock)', () => {
    const random = new Random(1);
    const created = now;
    let clock = created;
    let attemptsMade = 0;
    let attemptsStarted = 1;
    const waits: number[] = [];
    for (let run = 0; run < 1000; run += 1) {
      const decision = decideRetry(
        { attemptsMade, attemptsStarted, timestamp: created, opts: { attempts: policy.maxAttempts } },
        policy,
        transient,
        clock,
        () => random.next(),
      );
      if (decision.action === 'dead-letter') break;
      const wait =
        decision.action === 'delay'
          ? decision.delayMs
          : targetBackoffStrategy(policy, () => random.next())(attemptsMade + 1, 'target', transient);
      // BullMQ counts its own retries in attemptsMade; moveToDelayed does not.
      if (decision.action === 'bull-retry') attemptsMade += 1;
      attemptsStarted += 1;
      waits.push(wait);
      clock += wait;
    }
    expect(attemptsStarted).toBeGreaterThanOrEqual(policy.maxAttempts);
    expect(clock - created).toBeGreaterThanOrEqual(policy.maxAgeMs);
    // It gave up at the first failure past the age, not one wait later.
    expect(clock - (waits.at(-1) ?? 0) - created).toBeLessThan(policy.maxAgeMs);
    expect(attemptsMade).toBe(policy.maxAttempts - 1);
    // The dead letter's count is the real number of runs, not BullMQ's capped attemptsMade.
    expect(attemptNumber({ attemptsMade, attemptsStarted })).toBe(attemptsStarted);
    expect(attemptsStarted).toBeGreaterThan(policy.maxAttempts);
  });
});

describe('attemptNumber', () => {
  it('counts every run BullMQ started, and is at least BullMQ\u2019s own count', () => {
    expect(attemptNumber({ attemptsMade: 0, attemptsStarted: 1 })).toBe(1);
    expect(attemptNumber({ attemptsMade: 11, attemptsStarted: 40 })).toBe(40);
    // A job read before it was ever started.
    expect(attemptNumber({ attemptsMade: 2, attemptsStarted: 0 })).toBe(3);
  });
});
