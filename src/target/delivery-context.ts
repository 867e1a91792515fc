import { DelayedError, type Job, type Queue } from 'bullmq';
import type { VisitorSnapshot, VisitorStore } from '../coalesce/store.js';
import { describeError, type DeadLetters } from '../dead-letters.js';
import type { PipelineError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { DeliverJob, Stage } from '../queues.js';
import { backoffDelay, lastBullAttempt, retriesSpent, type RetryPolicy } from './backoff.js';
import type { Budgets } from './budgets.js';
import type { TargetClient } from './client.js';

/** Everything delivery processors share. */
export interface DeliveryDeps {
  store: VisitorStore;
  client: TargetClient;
  deadLetters: DeadLetters;
  budgets: Budgets;
  retry: RetryPolicy;
  logger: Logger;
  /** Where visitors go when they must change API (auto mode, single budget spent). */
  queues: { deliverBulk: Queue<DeliverJob> };
  mode: 'auto' | 'single' | 'bulk';
}

/** Dead-letters visitor updates (with the values that did not land) and lets go of their claim. */
export async function deadLetterVisitors(deps: DeliveryDeps, stage: Stage, job: Job, claimId: string, snapshots: VisitorSnapshot[], error: PipelineError): Promise<void> {
  if (snapshots.length === 0) return;
  const now = Date.now();
  await deps.deadLetters.add({
    stage,
    visitors: snapshots.map((s) => ({ vk: s.vk, attributes: Object.fromEntries(s.attributes) })),
    error: describeError(error),
    attempts: job.attemptsMade + 1,
    firstAttemptAt: job.timestamp,
    lastAttemptAt: now,
  });
  await deps.store.release(claimId, snapshots.map((s) => s.vk), now);
  deps.logger.warn({ stage, claimId, visitors: snapshots.length, code: error.code, status: error.details.status }, 'dead-lettered visitor updates');
}

/**
 * After a transient failure: retry with backoff (BullMQ's attempts first, then further
 * delayed runs until the job is also old enough), or dead-letter once both are spent.
 * Always throws: the error for BullMQ's retry, or DelayedError for a self-scheduled retry.
 */
export async function retryOrGiveUp(deps: DeliveryDeps, stage: Stage, job: Job, token: string | undefined, claimId: string, pending: VisitorSnapshot[], error: PipelineError): Promise<never> {
  if (retriesSpent(job, deps.retry)) {
    await deadLetterVisitors(deps, stage, job, claimId, pending, error);
    throw error;
  }
  if (lastBullAttempt(job)) {
    await job.moveToDelayed(Date.now() + backoffDelay(job.attemptsMade + 1, deps.retry, error.details.retryAfterMs), token);
    throw new DelayedError();
  }
  throw error;
}

/** Puts a job back to run after `ms` without spending an attempt (waiting for a budget). */
export async function postpone(job: Job, token: string | undefined, ms: number): Promise<never> {
  await job.moveToDelayed(Date.now() + Math.max(1, ms), token);
  throw new DelayedError();
}
