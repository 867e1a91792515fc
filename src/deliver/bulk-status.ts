import { failureOf, stampsOf } from '../coalesce/delivery-log.js';
import type { Job } from 'bullmq';
import { CredentialsRefusedError, PipelineError, classifyError } from '../errors.js';
import { readJobData, type BulkBatch, type BulkStatusJob } from '../jobs/catalog.js';
import { backoffDelay, honouredRetryAfter } from './backoff.js';
import { bulkShare } from './bulk-rows.js';
import { StatusLinkRefusedError, type BatchStatus } from '../target/client.js';
import { apiFor, handOverToSingle, type BulkDeliveryDeps } from './deliver-bulk.js';
import { parseVisitorKey } from '../events/index.js';
import { resubmit, type Resubmitted } from './bulk-resubmit.js';
import { recheckDelays } from './untracked-copies.js';
import { batchIdOf, resolveStatusLink } from '../target/status-link.js';
import { deadLetterVisitors, pauseBulkOn503, postpone, waitWhileHeld } from './delivery-context.js';
import { plannedReadMs } from './first-poll.js';

export interface BulkStatusSettings {
  /** First delay between polls (doubles with each incomplete answer). */
  pollBaseMs: number;
  /** Polls back off from BULK_STATUS_POLL_MS up to this. */
  maxPollDelayMs: number;
  /** A batch Target calls `stuck` is submitted again at most this many times, then dead-lettered. */
  maxResubmits: number;
  /**
   * BULK_STATUS_GIVE_UP_MS: a batch whose `complete` has not been read this long after its
   * submit (still incomplete, an unknown batch id, an unreadable status) is submitted again.
   */
  giveUpAfterMs: number;
}

/**
 * Running totals of one claim's batches. They live in the job data, so they survive every
 * postponed poll, and come back in the summary of the run that finishes the claim.
 */
export interface BulkStatusTotals {
  /** Batches Target reported `complete`. */
  complete: number;
  /** Visitors whose frozen values were recorded as delivered. */
  acked: number;
  /** Batches submitted again (stuck, or past the give-up time). */
  resubmitted: number;
  /** Visitors dead-lettered (stuck past `maxResubmits`, rows failing past the retry policy, a resubmitted file refused). */
  deadLettered: number;
  /** Status polls made. */
  polls: number;
  /** Sums of Target's `showDetails` counts over the complete batches (never of partial ones). */
  batchSize: number;
  successfulUpdates: number;
  profilesNotFound: number;
  failedUpdates: number;
  /** Rows Target listed as failed, sent again. */
  failedRowsRetried: number;
  /** Failed rows Target counted without naming them: which visitors did not land is unknown. */
  failedUnnamed: number;
  /** Visitors whose values no bulk file may carry, handed to single delivery once their row landed. */
  handedToSingle: number;
}

/** What one run returns: the claim's totals so far and the batches still being polled. */
export interface BulkStatusSummary extends BulkStatusTotals {
  pending: number;
}

/** Reported with `job.updateProgress` as each batch completes, so metrics count per batch. */
export interface BatchCompleteProgress {
  batchComplete: {
    batchSize: number;
    successfulUpdates: number;
    profilesNotFound: number;
    failedUpdates: number;
    failedUnnamed: number;
  };
}

/** Visitors of the claim with an untracked copy at Target, and when the last copy left (src/deliver/untracked-copies.ts). */
interface Untracked {
  lost: Set<string>;
  lostAt: number;
}

function noteUntracked(untracked: Untracked, vks: readonly string[], sentAt: number): void {
  if (vks.length === 0) return;
  for (const vk of vks) untracked.lost.add(vk);
  untracked.lostAt = Math.max(untracked.lostAt, sentAt);
}

/** A complete batch's rows this run settles: its own (not also in a batch still at Target), failed, landed. */
interface BatchRows {
  failed: Set<string>;
  landed: string[];
}

function rowsOf(batch: BulkBatch, status: BatchStatus, elsewhere: ReadonlySet<string>): BatchRows {
  const mine = elsewhere.size === 0 ? batch.visitors : batch.visitors.filter((vk) => !elsewhere.has(vk));
  const inBatch = new Set(mine);
  const failed = new Set<string>();
  for (const id of status.failedIds) for (const vk of [`pc:${id}`, `3p:${id}`]) if (inBatch.has(vk)) failed.add(vk);
  return { failed, landed: mine.filter((vk) => !failed.has(vk)) };
}

/**
 * Before a complete batch is settled: the visitors among its landed rows with an untracked
 * copy at Target are read back strictly, whatever the sample (LandingAudits.scheduleRecheck).
 * Scheduled before the ack, since nothing would tell a later run to once the rows are acked.
 * False when they could not be scheduled: the batch is then not settled in this run (nothing
 * counted, nothing acked) and is polled again, while the run saves what it did (resubmits
 * already posted stay tracked). A second schedule only reads back twice.
 */
async function scheduleRechecks(
  deps: BulkDeliveryDeps,
  log: BulkDeliveryDeps['logger'],
  claimId: string,
  batch: BulkBatch,
  landed: readonly string[],
  untracked: Untracked,
): Promise<boolean> {
  const recheck = untracked.lost.size === 0 ? [] : landed.filter((vk) => untracked.lost.has(vk));
  if (recheck.length === 0 || deps.audits === undefined) return true;
  const batchId = batchIdOf(batch.statusUrl);
  try {
    const scheduled = await deps.audits.scheduleRecheck(
      recheck,
      { sentAt: batch.submittedAt, batchId },
      recheckDelays(untracked.lostAt, Date.now(), deps.audits.settings.delayMs),
    );
    log.info(
      { claimId, batchId, visitors: scheduled, answerLostAt: untracked.lostAt },
      'bulk rows complete for visitors with an untracked copy at Target: their landing will be read back',
    );
    return true;
  } catch (error) {
    log.warn(
      { claimId, batchId, err: error },
      'bulk batch complete, but the read-backs of visitors with an untracked copy could not be scheduled: polling it again before acking',
    );
    return false;
  }
}

/** The status job's data with the totals kept between runs (absent on the first run). */
type StatusJobData = BulkStatusJob & { totals?: BulkStatusTotals };

function zeroTotals(): BulkStatusTotals {
  return {
    complete: 0,
    acked: 0,
    resubmitted: 0,
    deadLettered: 0,
    polls: 0,
    batchSize: 0,
    successfulUpdates: 0,
    profilesNotFound: 0,
    failedUpdates: 0,
    failedRowsRetried: 0,
    failedUnnamed: 0,
    handedToSingle: 0,
  };
}

/** What one poll of one batch learned. */
type PollResult =
  | { state: 'complete'; status: BatchStatus }
  | { state: 'stuck' }
  /** `incomplete`: Target answered that it is still processing (not an error). */
  | { state: 'waiting'; retryAfterMs?: number; incomplete?: true };

/**
 * Polls the bulk batches of one claim until Target reports them `complete`, as a delayed
 * BullMQ job that reschedules itself (no sleeping loop). Held, never dropped (P10):
 * - `complete`: the values each row carried are recorded as delivered; rows Target lists
 *   as failed go again under the retry policy, then to dead letters with the batch id;
 *   values no bulk file may carry go on by single update (src/deliver/bulk-rows.ts);
 * - `incomplete`, an unknown batch id (404: Adobe does not say how long statuses are kept),
 *   a status call that fails, or a link the token must not go to: the batch is held and
 *   polled again with backoff; none of these resubmits it;
 * - no `complete` read within the give-up time: the same rows are submitted again (safe:
 *   every row carries all the visitor's delivered values), as often as it takes;
 * - `stuck`: the same rows are submitted again up to `maxResubmits` times, then its
 *   visitors are dead-lettered (`BULK_BATCH_STUCK`): Target said it will not take them.
 */
export function createBulkStatusProcessor(deps: BulkDeliveryDeps, settings: BulkStatusSettings) {
  return async (job: Job<BulkStatusJob>, token?: string): Promise<BulkStatusSummary> => {
    const data: StatusJobData = readJobData('bulkStatus', job);
    const { claimId } = data;
    const log = deps.logger.child({ queue: job.queueName, jobId: job.id, attempt: job.attemptsMade + 1 });
    const totals: BulkStatusTotals = { ...zeroTotals(), ...data.totals };
    // Held (Target refuses our credentials): no poll, no budget, no give-up clock matters
    // until it lifts; the leases are renewed by the flusher's sweep (this job stays alive).
    await waitWhileHeld(deps, job, token);
    const remaining: BulkBatch[] = [];
    let waitMs = 0;
    const now = Date.now();
    const done = new Set<BulkBatch>();
    const untracked: Untracked = { lost: new Set(data.answerLost), lostAt: data.answerLostAt ?? 0 };
    const resubmitted = (again: Resubmitted): void => {
      if (again.lost !== undefined) noteUntracked(untracked, again.lost.visitors, again.lost.sentAt);
      remaining.push(...again.batches);
      totals.deadLettered += again.deadLettered;
    };
    for (const batch of data.batches) {
      if (batch.statusUrl === '') {
        // Failed rows waiting for their retry.
        if ((batch.retryAt ?? 0) > now) {
          remaining.push(batch);
          continue;
        }
        resubmitted(
          await resubmit(deps, job, claimId, batch, {
            resubmits: batch.resubmits,
            rowAttempt: batch.rowAttempt ?? 2,
          }),
        );
        continue;
      }
      // Held (a 401/403 seen by this run or another process): no more polls now.
      if ((await deps.hold.state()) !== undefined) {
        remaining.push(batch);
        continue;
      }
      // A link the token must not go to costs no call: only the give-up time can move it.
      const reservation = resolveStatusLink(batch.statusUrl, deps.client.settings.baseUrl).ok
        ? await deps.budgets.bulk.reserve(1)
        : { granted: true, retryInMs: 0 };
      if (!reservation.granted) {
        remaining.push(batch);
        waitMs = Math.max(waitMs, reservation.retryInMs);
        continue;
      }
      totals.polls += 1;
      const result = await poll(deps, log, claimId, batch);
      if (result.state === 'complete') {
        // A visitor also in a batch still at Target (the same rows posted again after a
        // failing submit or a stuck batch) is acked when the last of them completes: the
        // other copy could otherwise land after newer values (P4).
        const elsewhere = new Set(
          [...data.batches, ...remaining].filter((b) => b !== batch && !done.has(b)).flatMap((b) => b.visitors),
        );
        const rows = rowsOf(batch, result.status, elsewhere);
        if (!(await scheduleRechecks(deps, log, claimId, batch, rows.landed, untracked))) {
          // Not settled (nothing counted or acked): the next run polls it again.
          remaining.push(batch);
          waitMs = Math.max(waitMs, settings.pollBaseMs);
          continue;
        }
        totals.complete += 1;
        done.add(batch);
        if (batch.firstPollMs !== undefined)
          await deps.firstPoll.record({
            firstPollMs: batch.firstPollMs,
            incompletePolls: batch.polls,
            elapsedMs: Date.now() - batch.submittedAt,
            // No `incomplete` answer (only errors, or a job from before answeredAt was kept):
            // the first read planned is the soonest it could have been read complete.
            plannedMs:
              batch.answeredAt === undefined
                ? batch.firstPollMs
                : plannedReadMs(
                    batch.answeredAt - batch.submittedAt,
                    batch.polls,
                    batch.firstPollMs,
                    settings.maxPollDelayMs,
                  ),
          });
        remaining.push(
          ...(await settleComplete(deps, job, claimId, batch, result.status, { totals, log, rows, untracked })),
        );
        continue;
      }
      if (result.state === 'waiting') {
        // Capped like every Retry-After (src/deliver/backoff.ts).
        waitMs = Math.max(waitMs, honouredRetryAfter(result.retryAfterMs, deps.retry) ?? 0);
        if (Date.now() - batch.submittedAt <= settings.giveUpAfterMs) {
          // Only Target's own `incomplete` says when the batch was not done yet: after an error
          // (a 401 that opened a hold, a 5xx) it may have been complete all along.
          remaining.push({
            ...batch,
            polls: batch.polls + 1,
            ...(result.incomplete ? { answeredAt: Date.now() } : {}),
          });
          continue;
        }
        // Slow or unreadable is not refused (P10): the rows go again, as often as it takes,
        // and never to dead letters; only a batch Target calls `stuck` counts below.
        log.warn(
          {
            claimId,
            batchId: batchIdOf(batch.statusUrl),
            submittedAt: batch.submittedAt,
            giveUpAfterMs: settings.giveUpAfterMs,
          },
          'bulk batch not complete within the give-up time: submitting its rows again',
        );
        // The batch may still be processed, untracked from now on. Its copies count from now,
        // even past Adobe's 24 hours: a run killed after resubmitting them left copies sent
        // after the batch's own, and nothing else marks those.
        noteUntracked(untracked, batch.visitors, Date.now());
        resubmitted(
          await resubmit(deps, job, claimId, batch, {
            resubmits: batch.resubmits,
            rowAttempt: batch.rowAttempt ?? 1,
          }),
        );
        totals.resubmitted += 1;
        continue;
      }
      if (batch.resubmits >= settings.maxResubmits) {
        const snapshots = await deps.store.readInFlight(claimId, batch.visitors);
        await deadLetterVisitors(
          deps,
          'bulk-status',
          job,
          claimId,
          snapshots,
          new PipelineError(
            `bulk batch ${batchIdOf(batch.statusUrl)} did not complete after ${batch.resubmits} resubmissions`,
            'BULK_BATCH_STUCK',
            'permanent',
          ),
        );
        totals.deadLettered += snapshots.length;
        continue;
      }
      // Adobe does not say what becomes of a stuck batch: it may yet be processed, untracked
      // (counted from now, as a batch given up on).
      noteUntracked(untracked, batch.visitors, Date.now());
      const again = await resubmit(deps, job, claimId, batch, {
        resubmits: batch.resubmits + 1,
        rowAttempt: batch.rowAttempt ?? 1,
      });
      resubmitted(again);
      totals.resubmitted += 1;
      log.warn(
        { claimId, batchId: batchIdOf(batch.statusUrl), resubmits: batch.resubmits + 1, deferred: again.deferred },
        'bulk batch stuck: resubmitted',
      );
    }
    const summary: BulkStatusSummary = { ...totals, pending: remaining.length };
    if (remaining.length === 0) {
      log.info({ claimId, ...summary }, 'bulk batches of the claim done');
      return summary;
    }
    await deps.store.renewLeases(remaining.flatMap((b) => b.visitors));
    const next: StatusJobData = {
      claimId,
      batches: remaining,
      totals,
      ...(untracked.lost.size > 0 ? { answerLost: [...untracked.lost], answerLostAt: untracked.lostAt } : {}),
    };
    await job.updateData(next);
    const polled = remaining.filter((b) => b.statusUrl !== '');
    const pollDelay =
      polled.length === 0
        ? Infinity
        : backoffDelay(
            Math.min(...polled.map((b) => b.polls)) + 1,
            // Backing off from the batch's first poll: a batch expected to take minutes is
            // not polled every few seconds once it overran (src/deliver/first-poll.ts).
            {
              ...deps.retry,
              baseDelayMs: Math.min(...polled.map((b) => b.firstPollMs ?? settings.pollBaseMs)),
              maxDelayMs: settings.maxPollDelayMs,
            },
            undefined,
          );
    const retryDelay = Math.min(
      ...remaining.map((b) => (b.statusUrl === '' ? Math.max(1, (b.retryAt ?? 0) - Date.now()) : Infinity)),
    );
    return postpone(job, token, Math.max(waitMs, Math.min(pollDelay, retryDelay)));
  };
}

/** Reads one batch's status; anything but `complete` or `stuck` leaves it waiting (logged once per kind). */
async function poll(
  deps: BulkDeliveryDeps,
  log: BulkDeliveryDeps['logger'],
  claimId: string,
  batch: BulkBatch,
): Promise<PollResult> {
  try {
    const status = await deps.client.batchStatus(batch.statusUrl);
    if (status.status === 'complete') return { state: 'complete', status };
    if (status.status === 'stuck') return { state: 'stuck' };
    return { state: 'waiting', incomplete: true };
  } catch (error) {
    const classified = classifyError(error);
    await pauseBulkOn503(deps, classified);
    if (error instanceof CredentialsRefusedError) await deps.hold.open(classified.details.status ?? 401);
    const kind =
      error instanceof StatusLinkRefusedError ? 'refused' : String(classified.details.status ?? classified.code);
    if (batch.warned !== kind) {
      batch.warned = kind;
      const fields = {
        claimId,
        batchId: batchIdOf(batch.statusUrl),
        code: classified.code,
        status: classified.details.status,
      };
      if (error instanceof StatusLinkRefusedError)
        log.error(
          { ...fields, reason: classified.message },
          'bulk batch status link refused: the batch is held until the give-up time (BULK_STATUS_GIVE_UP_MS), then its rows are submitted again',
        );
      else log.warn(fields, 'bulk batch status unreadable: polling again (the batch is held, not resubmitted)');
    }
    return classified.kind === 'transient'
      ? {
          state: 'waiting',
          ...(classified.details.retryAfterMs !== undefined ? { retryAfterMs: classified.details.retryAfterMs } : {}),
        }
      : { state: 'waiting' };
  }
}

/**
 * A complete batch: ack the values each row carried, except rows Target listed as failed,
 * which wait for another try (or are dead-lettered once the retry policy is spent); hand
 * values no bulk file could carry to single delivery. Returns the batch entries still to follow.
 */
async function settleComplete(
  deps: BulkDeliveryDeps,
  job: Job,
  claimId: string,
  batch: BulkBatch,
  status: BatchStatus,
  run: {
    totals: BulkStatusTotals;
    log: BulkDeliveryDeps['logger'];
    rows: BatchRows;
    untracked: Untracked;
  },
): Promise<BulkBatch[]> {
  const { totals, log, untracked } = run;
  const { failed, landed } = run.rows;
  const batchId = batchIdOf(batch.statusUrl);
  const unnamed = Math.max(0, status.failedUpdates - failed.size);
  totals.batchSize += status.batchSize;
  totals.successfulUpdates += status.successfulUpdates;
  totals.profilesNotFound += status.profilesNotFound;
  totals.failedUpdates += status.failedUpdates;
  totals.failedUnnamed += unnamed;
  const progress: BatchCompleteProgress = {
    batchComplete: {
      batchSize: status.batchSize,
      successfulUpdates: status.successfulUpdates,
      profilesNotFound: status.profilesNotFound,
      failedUpdates: status.failedUpdates,
      failedUnnamed: unnamed,
    },
  };
  await job.updateProgress(progress);
  const counts = {
    claimId,
    batchId,
    batchSize: status.batchSize,
    consumedCount: status.consumedCount,
    successfulUpdates: status.successfulUpdates,
    profilesNotFound: status.profilesNotFound,
    failedUpdates: status.failedUpdates,
    failedListed: failed.size,
  };
  if (unnamed > 0)
    log.error(
      { ...counts, failedUnnamed: unnamed },
      'bulk batch complete, but Target counts failed rows it does not name: those visitors may not have landed',
    );
  else if (status.failedUpdates > 0 || status.profilesNotFound > 0)
    log.warn(counts, 'bulk batch complete with failed rows or profiles not found');
  else log.info(counts, 'bulk batch complete');

  // A completed v2 row creates or renews the profile: the visitor is known for a lifetime.
  const created = apiFor(parseVisitorKey(batch.visitors[0] ?? '3p:').kind, deps.pcIdRoute) === 'v2';
  // Their read-backs are scheduled (scheduleRechecks): they leave the untracked set once acked.
  const recheck = untracked.lost.size === 0 ? [] : landed.filter((vk) => untracked.lost.has(vk));
  // Rows sampled for the landing audit (src/audit/): what each carried, read before the ack clears it.
  const sampled = (deps.audits?.pick(landed) ?? []).filter((vk) => !untracked.lost.has(vk));
  const audited = sampled.length === 0 ? [] : (await deps.store.readInFlight(claimId, sampled)).map(bulkShare);
  const acked = await deps.store.ackInFlight(claimId, landed, Date.now(), bulkShare, created, {
    route: 'bulk',
    batchId,
  });
  await deps.audits?.schedule(
    audited.map((s) => ({ vk: s.vk, sentAt: batch.submittedAt, route: 'bulk', batchId, attributes: stampsOf(s) })),
  );
  for (const vk of recheck) untracked.lost.delete(vk);
  totals.acked += acked.done;
  totals.handedToSingle += await handOverToSingle(deps, claimId, acked.more);
  if (failed.size === 0) return [];
  const attempt = (batch.rowAttempt ?? 1) + 1;
  const failedVks = [...failed];
  // Each visitor's lineage shows the failed row (a rare path: one read of what it carried).
  await deps.store.deliveryLog.recordFailures((await deps.store.readInFlight(claimId, failedVks)).map(failureOf), {
    route: 'bulk',
    batchId,
    rowsFailed: 1,
    detail: 'Target listed the row as failed',
  });
  if (attempt > deps.retry.maxAttempts) {
    const snapshots = await deps.store.readInFlight(claimId, failedVks);
    await deadLetterVisitors(
      deps,
      'bulk-status',
      job,
      claimId,
      snapshots,
      new PipelineError(
        `Target listed these rows of bulk batch ${batchId} as failed, ${attempt - 1} times`,
        'BULK_ROW_FAILED',
        'permanent',
      ),
    );
    totals.deadLettered += snapshots.length;
    return [];
  }
  totals.failedRowsRetried += failedVks.length;
  const delay = backoffDelay(attempt - 1, deps.retry, undefined);
  return [
    {
      statusUrl: '',
      visitors: failedVks,
      submittedAt: Date.now(),
      polls: 0,
      resubmits: batch.resubmits,
      rowAttempt: attempt,
      retryAt: Date.now() + delay,
    },
  ];
}
