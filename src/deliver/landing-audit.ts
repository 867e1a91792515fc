import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { VisitorStore } from '../coalesce/store.js';
import { holdOnRefusal, postpone, waitWhileHeld } from './delivery-context.js';
import type { CredentialsHold } from './credentials-hold.js';
import { classifyError } from '../errors.js';
import { parseVisitorKey } from '../events/index.js';
import type { Queue } from 'bullmq';
import {
  isRecheck,
  readJobData,
  type LandingAuditJob,
  type LandingQueueJob,
  type LandingRecheckJob,
} from '../jobs/catalog.js';
import type { Logger } from '../logger.js';
import type { TargetClient } from '../target/client.js';
import { compareLanding, countLanding, type LandingFinding, type LandingResult } from '../audit/landing-compare.js';

/** What the landing-audit worker needs. */
export interface LandingAuditDeps {
  store: VisitorStore;
  client: Pick<TargetClient, 'fetchProfile' | 'abandoned'>;
  /** The pipeline-wide hold on Target refusing our credentials (P10). */
  hold: CredentialsHold;
  logger: Logger;
  /** LANDING_AUDIT_MAX_RESENDS. */
  maxResends: number;
  /** The `landing-audit` queue, where a LandingRecheckJob fans out its checks. */
  queue: Pick<Queue<LandingQueueJob>, 'addBulk' | 'getJobCounts' | 'getDelayedCount'>;
  /**
   * How a LandingRecheckJob fans out (FAN_OUT_PAGE, FAN_OUT_MAX_QUEUED), and how far ahead a
   * delayed check counts as queued: checks waiting out a retry (RETRY_MAX_MS) or a hold are
   * still to run; the sampled checks of the next hour, and rechecks, are not yet.
   */
  fanOut: { page?: number; maxQueued?: number; horizonMs: number };
}

/** Checks a LandingRecheckJob adds at a time. */
export const FAN_OUT_PAGE = 500;
/**
 * A LandingRecheckJob adds checks only while fewer than this are queued (waiting, running,
 * or delayed within the fan-out's horizon): they drain at the pace of Fetch calls (a few at
 * a time per process), and a claim of 50,000 visitors added at once would hold 50,000 jobs
 * (about 1 KB each) in Redis until they ran.
 */
export const FAN_OUT_MAX_QUEUED = 2_000;
/** How long a LandingRecheckJob waits for the queue to drain below FAN_OUT_MAX_QUEUED. */
export const FAN_OUT_WAIT_MS = 5_000;

/**
 * What one check found, per attribute (src/metrics/pipeline-events.ts counts it in
 * `ti_landing_audit_total`), and how many missing values went back for delivery.
 */
export type LandingAuditSummary = Record<LandingResult, number> & {
  resent: number;
  gaveUp?: number;
  /**
   * `sampled` (LANDING_AUDIT_SAMPLE), or `lost_answer` (read back whatever the sample, after
   * a call or file that may still land): the `check` label of `ti_landing_audit_total`, so the
   * alert on misses judges the sample alone (a lost answer makes `different` expected).
   */
  check: 'sampled' | 'lost_answer';
};

/**
 * Reads one sampled delivery back through the Fetch Profile API (which does not count
 * against Target's mbox calls) and compares it with what the store says was delivered
 * (src/audit/landing-compare.ts). Values missing at Target are sent again through the
 * normal path (VisitorStore.resendDelivered: a newer pending value wins); a missing or a
 * different value is logged, and written to the visitor's delivery log so its lineage
 * shows it.
 *
 * Held, never dropped (P10): while Target refuses our credentials the check waits without
 * spending an attempt, and a 401/403 to the fetch opens the hold. Transient failures retry
 * with the `target` backoff (src/jobs/catalog.ts LANDING_AUDIT_ATTEMPTS); a permanent one
 * fails the check alone. Nothing here is ever dead-lettered: the delivery was accepted.
 */
export function createLandingAuditProcessor(deps: LandingAuditDeps) {
  return async (job: Job<LandingQueueJob>, token?: string): Promise<LandingAuditSummary> => {
    const queued = readJobData('landingAudit', job);
    if (isRecheck(queued)) return fanOut(deps, job, token, queued);
    try {
      return await checkLanding(deps, job, token, queued);
    } catch (error) {
      // Forgotten while its check ran (src/erasure/forget.ts, which removes the checks that
      // are not running): nothing is left to check, and a failed job would keep the visitor's
      // key for days. A postponement (DelayedError: a hold, a shutdown) has moved the job already.
      if (!(error instanceof DelayedError) && (await forgottenMeanwhile(deps.store, queued.vk)))
        return { ...countLanding([]), resent: 0, check: checkKind(queued) };
      throw error;
    }
  };
}

function checkKind(data: LandingAuditJob): LandingAuditSummary['check'] {
  return data.afterLostAnswer === true ? 'lost_answer' : 'sampled';
}

/** Is the visitor forgotten (and still suppressed)? No when that cannot be read: the check's own failure stands. */
async function forgottenMeanwhile(store: VisitorStore, vk: string): Promise<boolean> {
  try {
    return (await store.suppressedAmong([vk])).has(vk);
  } catch {
    return false;
  }
}

/** One sampled or lost-answer check (see {@link createLandingAuditProcessor}). */
async function checkLanding(
  deps: LandingAuditDeps,
  job: Job<LandingQueueJob>,
  token: string | undefined,
  data: LandingAuditJob,
): Promise<LandingAuditSummary> {
  const log = deps.logger.child({ queue: job.queueName, jobId: job.id, attempt: job.attemptsMade + 1 });
  await waitWhileHeld(deps, job, token);
  // Forgotten, or delivered longer ago than DELIVERED_RETENTION_MS: nothing to hold Target to.
  const delivered = await deps.store.readDelivered(data.vk);
  const check = checkKind(data);
  if (delivered.size === 0) return { ...countLanding([]), resent: 0, check };
  let profile: Awaited<ReturnType<TargetClient['fetchProfile']>>;
  try {
    profile = await deps.client.fetchProfile(parseVisitorKey(data.vk));
  } catch (error) {
    // Dropped by us at shutdown (src/jobs/workers.ts): back to the queue, no attempt spent.
    if (deps.client.abandoned) return postpone(job, token, 1);
    await holdOnRefusal(deps, job, token, error);
    const classified = classifyError(error);
    if (classified.kind === 'permanent')
      throw Object.assign(new UnrecoverableError(classified.message), { code: classified.code });
    throw classified;
  }
  const strict = data.afterLostAnswer === true;
  // A check fanned out by a LandingRecheckJob names no attributes: a bulk row carries every
  // value delivered to the visitor, so any of them may have been written by the lost file.
  const sampled =
    Object.keys(data.attributes).length > 0
      ? data.attributes
      : Object.fromEntries([...delivered].map(([name, update]) => [name, update.stamp]));
  const findings = compareLanding({ sampled, delivered, profile, sentAt: data.sentAt, strict });
  const counts = countLanding(findings);
  // After a lost answer a different value is most likely that call's older one, landed
  // late (docs/invariants.md, P4): it goes again with the missing ones.
  const missing = [...names(findings, 'missing'), ...(strict ? names(findings, 'different') : [])];
  const { resent, gaveUp } = await deps.store.resendDelivered(data.vk, missing, {
    profileGone: profile === undefined,
    maxResends: deps.maxResends,
  });
  if (gaveUp > 0)
    log.error(
      { gaveUp, maxResends: deps.maxResends, route: data.route, batchId: data.batchId, missingAttributes: missing },
      'landing audit: values still missing at Target after LANDING_AUDIT_MAX_RESENDS resends: not sent again (see docs/operations.md#landing-audit)',
    );
  if (counts.missing + counts.different > 0) {
    const off = findings.filter((f) => f.result !== 'match');
    await deps.store.deliveryLog.recordFailures(
      [{ vk: data.vk, attributes: Object.fromEntries(off.map((f) => [f.name, delivered.get(f.name)?.stamp ?? ''])) }],
      {
        route: data.route,
        batchId: data.batchId,
        detail: `landing audit: not in Target's profile: ${counts.missing} missing (sent again), ${counts.different} different${strict ? ' (sent again: an earlier call for this visitor got no answer)' : ''}`,
      },
    );
    // Attribute names come from the mapping; values and visitor ids stay out of logs.
    log.warn(
      {
        ...counts,
        resent,
        route: data.route,
        batchId: data.batchId,
        profileFound: profile !== undefined,
        missingAttributes: missing,
        differentAttributes: names(findings, 'different'),
      },
      'landing audit: values Target accepted are not in its profile',
    );
  }
  return { ...counts, resent, ...(gaveUp > 0 ? { gaveUp } : {}), check };
}

function names(findings: readonly LandingFinding[], result: LandingResult): string[] {
  return findings.filter((f) => f.result === result).map((f) => f.name);
}

/**
 * Fans a LandingRecheckJob out into one strict check per visitor (every delivered attribute),
 * FAN_OUT_PAGE at a time and only while fewer than FAN_OUT_MAX_QUEUED checks are queued and
 * no hold is open, keeping the rest in its own data. The checks' job ids are the recheck's id and the visitor's
 * position, so a page added again after a crash adds nothing twice while its checks wait.
 */
async function fanOut(
  deps: LandingAuditDeps,
  job: Job<LandingQueueJob>,
  token: string | undefined,
  data: LandingRecheckJob,
): Promise<LandingAuditSummary> {
  const none: LandingAuditSummary = { ...countLanding([]), resent: 0, check: 'lost_answer' };
  if (data.recheck.length === 0) return none;
  // While Target refuses our credentials every check would only wait: none is added.
  await waitWhileHeld(deps, job, token);
  const { page: pageSize = FAN_OUT_PAGE, maxQueued = FAN_OUT_MAX_QUEUED, horizonMs } = deps.fanOut;
  // Checks queued: waiting (rechecks wait as prioritized, RECHECK_PRIORITY, so they are not
  // counted), running (itself among them, and at most a few other rechecks), and retrying
  // within the horizon but not within the next FAN_OUT_WAIT_MS, when postponed rechecks come
  // back: rechecks counting each other would keep every one of them waiting.
  const now = Date.now();
  const counts = await deps.queue.getJobCounts('waiting', 'active');
  const retrying =
    (await deps.queue.getDelayedCount(now + horizonMs)) -
    (await deps.queue.getDelayedCount(now + FAN_OUT_WAIT_MS + 1_000));
  const queued = (counts.waiting ?? 0) + (counts.active ?? 0) - 1 + Math.max(0, retrying);
  if (queued >= maxQueued) return postpone(job, token, FAN_OUT_WAIT_MS);
  const offset = data.offset ?? 0;
  const page = data.recheck.slice(0, pageSize);
  // A forgotten visitor's place is an empty key (src/erasure/audit-jobs.ts).
  const checks = page.flatMap((vk, k) => (vk === '' ? [] : [{ vk, k }]));
  await deps.queue.addBulk(
    checks.map(({ vk, k }) => ({
      name: `audit ${data.route}`,
      data: {
        vk,
        sentAt: data.sentAt,
        route: data.route,
        ...(data.batchId !== undefined ? { batchId: data.batchId } : {}),
        attributes: {},
        afterLostAnswer: true,
      },
      opts: { jobId: `${job.id ?? 'recheck'}-${offset + k}` },
    })),
  );
  const rest = data.recheck.slice(pageSize);
  if (rest.length === 0) return none;
  await job.updateData({ ...data, recheck: rest, offset: offset + page.length });
  return postpone(job, token, 1);
}
