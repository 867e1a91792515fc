import { DelayedError, UnrecoverableError, type Job, type Queue } from 'bullmq';
import type { VisitorSnapshot, VisitorStore } from '../coalesce/store.js';
import { describeError, visitorSources, type DeadLetters } from '../dlq/writer.js';
import { CredentialsRefusedError, type PipelineError } from '../errors.js';
import { failureOf } from '../coalesce/delivery-log.js';
import type { Logger } from '../logger.js';
import type { DeliverJob, Stage } from '../jobs/catalog.js';
import { attemptNumber, decideRetry, honouredRetryAfter, type RetryPolicy } from './backoff.js';
import type { Budgets } from '../quota/budgets.js';
import type { TargetClient } from '../target/client.js';
import type { CredentialsHold } from './credentials-hold.js';
import type { LandingAudits } from '../audit/landing-schedule.js';

/** Everything delivery processors share. */
export interface DeliveryDeps {
  store: VisitorStore;
  client: TargetClient;
  deadLetters: DeadLetters;
  budgets: Budgets;
  retry: RetryPolicy;
  logger: Logger;
  /** Where visitors go when they must change API (auto mode, single budget spent). */
  queues: { deliverBulk: Queue<DeliverJob>; deliverSingle: Queue<DeliverJob> };
  mode: 'auto' | 'single' | 'bulk';
  /** The pipeline-wide hold on Target refusing our credentials (P10). */
  hold: CredentialsHold;
  /** Samples accepted deliveries for the landing audit (src/audit/); none without it. */
  audits?: LandingAudits;
}

/**
 * Dead-letters visitor updates (with the values that did not land) and lets go of their
 * claim. The visitor store keeps, per visitor, the sources whose events its values came
 * from: `sources` lists them all, and `source` is that one source when there is only one,
 * else UNKNOWN_SOURCE (values merged from several producers, or written before sources
 * were kept); {@link visitorSources} derives both. Past DEAD_LETTER_MAX_ITEMS visitors the
 * writer splits the entry into parts (src/dlq/writer.ts).
 */
export async function deadLetterVisitors(
  deps: DeliveryDeps,
  stage: Stage,
  job: Job,
  claimId: string,
  snapshots: VisitorSnapshot[],
  error: PipelineError,
): Promise<void> {
  if (snapshots.length === 0) return;
  const now = Date.now();
  const visitors = snapshots.map((s) => ({
    vk: s.vk,
    attributes: Object.fromEntries(s.attributes),
    ...(s.sources !== undefined ? { sources: s.sources } : {}),
  }));
  await deps.deadLetters.add({
    stage,
    ...visitorSources(visitors),
    visitors,
    error: describeError(error),
    attempts: attemptNumber(job),
    firstAttemptAt: job.timestamp,
    lastAttemptAt: now,
  });
  await deps.store.deliveryLog.recordFailures(
    snapshots.map(failureOf),
    {
      route: stage === 'deliver-single' ? 'single' : 'bulk',
      detail: `dead-lettered: ${error.code}${error.details.status !== undefined ? ` (HTTP ${error.details.status})` : ''}`,
    },
    now,
  );
  await deps.store.release(
    claimId,
    snapshots.map((s) => s.vk),
    now,
  );
  deps.logger.warn(
    { stage, claimId, visitors: snapshots.length, code: error.code, status: error.details.status },
    'dead-lettered visitor updates',
  );
}

/**
 * After a failed attempt, as {@link decideRetry} says: a permanent error is dead-lettered at
 * once (no retry); a transient one retries with backoff (BullMQ's attempts first, then
 * further delayed runs until the job is also old enough), and is dead-lettered once both
 * are spent. Always throws: the error for BullMQ's retry (or its final failure),
 * DelayedError for a self-scheduled retry, UnrecoverableError after a permanent error so
 * BullMQ does not run the job again.
 */
export async function retryOrGiveUp(
  deps: DeliveryDeps,
  stage: Stage,
  job: Job,
  token: string | undefined,
  claimId: string,
  /** The visitors still to deliver, or how to read them: only a dead letter needs them (a bulk claim's snapshots are large). */
  pending: VisitorSnapshot[] | (() => Promise<VisitorSnapshot[]>),
  error: PipelineError,
  /** Each visitor's own failure, when they differ (single calls): its dead letter says that one (P9). */
  errorOf?: (snapshot: VisitorSnapshot) => PipelineError,
): Promise<never> {
  // Shutting down past SHUTDOWN_TIMEOUT_MS (src/jobs/workers.ts): the calls were dropped by us,
  // not failed by Target or the data, so no attempt is spent and nothing is dead-lettered.
  if (deps.client.abandoned) return postpone(job, token, 1);
  const decision = decideRetry(job, deps.retry, error);
  switch (decision.action) {
    case 'dead-letter':
      for (const [cause, group] of groupByError(
        typeof pending === 'function' ? await pending() : pending,
        errorOf ?? (() => error),
      )) {
        await deadLetterVisitors(deps, stage, job, claimId, group, cause);
      }
      if (decision.reason === 'permanent')
        throw Object.assign(new UnrecoverableError(error.message), { code: error.code });
      throw error;
    case 'delay':
      await job.moveToDelayed(Date.now() + decision.delayMs, token);
      throw new DelayedError();
    case 'bull-retry':
      throw error;
  }
}

/** Visitors by failure (code and HTTP status), each group with its first error: one dead letter per kind of failure. */
function groupByError(
  snapshots: readonly VisitorSnapshot[],
  errorOf: (snapshot: VisitorSnapshot) => PipelineError,
): Array<[PipelineError, VisitorSnapshot[]]> {
  const groups = new Map<string, [PipelineError, VisitorSnapshot[]]>();
  for (const snapshot of snapshots) {
    const cause = errorOf(snapshot);
    const key = `${cause.code}|${cause.details.status ?? ''}`;
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [cause, [snapshot]]);
    else group[1].push(snapshot);
  }
  return [...groups.values()];
}

/** Puts a job back to run after `ms` without spending an attempt (waiting for a budget). */
export async function postpone(job: Job, token: string | undefined, ms: number): Promise<never> {
  await job.moveToDelayed(Date.now() + Math.max(1, ms), token);
  throw new DelayedError();
}

/**
 * After a 503 from a bulk or status call: Target's limit of 50 calls a minute, shared with
 * every Admin and Reporting API user of the account, is spent. Pauses every bulk call of the
 * pipeline until the window has passed (at least BULK_CALLS_WINDOW_MS, longer if Retry-After
 * says so, up to the Retry-After cap of src/deliver/backoff.ts: an uncapped `Retry-After:
 * 86400` would stop every bulk call for a day), logged once per pause. True when `error` was
 * such a 503.
 */
export async function pauseBulkOn503(deps: DeliveryDeps, error: PipelineError): Promise<boolean> {
  if (error.details.status !== 503) return false;
  const ms = Math.max(
    deps.budgets.bulk.settings.windowMs,
    honouredRetryAfter(error.details.retryAfterMs, deps.retry) ?? 0,
  );
  const before = await deps.budgets.bulk.peek();
  await deps.budgets.bulk.pause(ms);
  if (before.pausedForMs === 0)
    deps.logger.warn(
      { pauseMs: ms, retryAfterMs: error.details.retryAfterMs, code: error.code },
      "Target answered 503 to a bulk call: the account's 50 calls a minute are spent (other users share them); every bulk call pauses, nothing is dropped",
    );
  return true;
}

/** A job waits while Target refuses our credentials: no call, no budget, no attempt spent. */
export async function waitWhileHeld(
  deps: Pick<DeliveryDeps, 'hold'>,
  job: Job,
  token: string | undefined,
): Promise<void> {
  if ((await deps.hold.state()) !== undefined) await postpone(job, token, deps.hold.retryInMs());
}

/**
 * When `error` is Target refusing our credentials (401/403): opens the pipeline-wide hold
 * and puts the job back without spending an attempt. Returns otherwise.
 */
export async function holdOnRefusal(
  deps: Pick<DeliveryDeps, 'hold'>,
  job: Job,
  token: string | undefined,
  error: unknown,
): Promise<void> {
  if (!(error instanceof CredentialsRefusedError)) return;
  await deps.hold.open(error.details.status ?? 401);
  await postpone(job, token, deps.hold.retryInMs());
}
