import type { Job } from 'bullmq';
import { PipelineError, classifyError } from '../errors.js';
import { visitorKey } from '../events/index.js';
import type { BulkStatusJob } from '../queues.js';
import { backoffDelay } from './backoff.js';
import type { BatchStatus } from './client.js';
import { profileTooLarge, readRows, type BulkDeliveryDeps } from './deliver-bulk.js';
import { deadLetterVisitors, postpone } from './delivery-context.js';

export interface BulkStatusSettings {
  /** First delay between polls (doubles with each incomplete answer). */
  pollBaseMs: number;
  /** Polls back off from BULK_STATUS_POLL_MS up to this. */
  maxPollDelayMs: number;
  /** A `stuck` (or forgotten) batch is submitted again at most this many times, then dead-lettered. */
  maxResubmits: number;
  /** Target keeps a status for at most 24 h: a batch still incomplete after this is resubmitted. */
  giveUpPollingAfterMs: number;
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
  /** Batches submitted again (stuck, forgotten or incomplete too long). */
  resubmitted: number;
  /** Visitors dead-lettered (stuck past `maxResubmits`, or a resubmitted file refused). */
  deadLettered: number;
  /** Status polls made. */
  polls: number;
  /** Sums of Target's `showDetails` counts over the complete batches (never of partial ones). */
  batchSize: number;
  successfulUpdates: number;
  profilesNotFound: number;
  failedUpdates: number;
}

/** What one run returns: the claim's totals so far and the batches still being polled. */
export interface BulkStatusSummary extends BulkStatusTotals {
  pending: number;
}

/** The status job's data with the totals kept between runs (absent on the first run). */
type StatusJobData = BulkStatusJob & { totals?: BulkStatusTotals };

function zeroTotals(): BulkStatusTotals {
  return { complete: 0, acked: 0, resubmitted: 0, deadLettered: 0, polls: 0, batchSize: 0, successfulUpdates: 0, profilesNotFound: 0, failedUpdates: 0 };
}

/**
 * Polls the bulk batches of one claim until Target reports them `complete`, as a delayed
 * BullMQ job that reschedules itself (no sleeping loop). `complete` records the values as
 * delivered and releases the visitors; `incomplete` polls again with backoff; `stuck`, a
 * status Target no longer knows (it keeps only the last 10, for 24 h) or a batch incomplete
 * for too long is resubmitted with the same values up to `maxResubmits` times, then its
 * visitors are dead-lettered (`BULK_BATCH_STUCK`). Target reports no per-row errors: each
 * complete batch's `showDetails` counts are logged (a warning when `failedUpdates` or
 * `profilesNotFound` is above 0), added to the totals kept in the job data, and returned in
 * the summary of the run that finishes the claim, for metrics.
 */
export function createBulkStatusProcessor(deps: BulkDeliveryDeps, settings: BulkStatusSettings) {
  return async (job: Job<BulkStatusJob>, token?: string): Promise<BulkStatusSummary> => {
    const data: StatusJobData = job.data;
    const { claimId } = data;
    const log = deps.logger.child({ queue: job.queueName, jobId: job.id, attempt: job.attemptsMade + 1 });
    const totals: BulkStatusTotals = { ...zeroTotals(), ...data.totals };
    const remaining: BulkStatusJob['batches'] = [];
    let waitMs = 0;
    for (const batch of data.batches) {
      const budget = await deps.budgets.bulk.reserve(1);
      if (!budget.granted) {
        remaining.push(batch);
        waitMs = Math.max(waitMs, budget.retryInMs);
        continue;
      }
      totals.polls += 1;
      let state: 'complete' | 'incomplete' | 'resubmit';
      try {
        const status = await deps.client.batchStatus(batch.statusUrl);
        if (status.status === 'complete') noteComplete(log, claimId, totals, status);
        state = status.status === 'complete' ? 'complete' : status.status === 'stuck' ? 'resubmit' : 'incomplete';
      } catch (error) {
        const classified = classifyError(error);
        // A status Target no longer has (404) is as good as lost: submit the values again.
        state = classified.kind === 'permanent' ? 'resubmit' : 'incomplete';
        if (classified.kind === 'transient') waitMs = Math.max(waitMs, classified.details.retryAfterMs ?? 0);
        else log.warn({ claimId, code: classified.code, status: classified.details.status }, 'bulk batch status unreadable (forgotten?): resubmitting');
      }
      if (state === 'incomplete' && Date.now() - batch.submittedAt > settings.giveUpPollingAfterMs) state = 'resubmit';

      if (state === 'complete') {
        totals.complete += 1;
        totals.acked += await deps.store.ackInFlight(claimId, batch.visitors);
        continue;
      }
      if (state === 'incomplete') {
        remaining.push({ ...batch, polls: batch.polls + 1 });
        continue;
      }
      if (batch.resubmits >= settings.maxResubmits) {
        const snapshots = await deps.store.readInFlight(claimId, batch.visitors);
        await deadLetterVisitors(deps, 'bulk-status', job, claimId, snapshots, new PipelineError(`bulk batch did not complete after ${batch.resubmits} resubmissions`, 'BULK_BATCH_STUCK', 'permanent'));
        totals.deadLettered += snapshots.length;
        continue;
      }
      const resubmitted = await resubmit(deps, job, claimId, batch);
      if (resubmitted === undefined) {
        remaining.push(batch);
      } else {
        remaining.push(...resubmitted.batches);
        totals.deadLettered += resubmitted.deadLettered;
        totals.resubmitted += 1;
        log.warn({ claimId, resubmits: batch.resubmits + 1 }, 'bulk batch stuck or lost: resubmitted');
      }
    }
    const summary: BulkStatusSummary = { ...totals, pending: remaining.length };
    if (remaining.length === 0) {
      log.info({ claimId, ...summary }, 'bulk batches of the claim done');
      return summary;
    }
    await deps.store.renewLeases(remaining.flatMap((b) => b.visitors));
    const next: StatusJobData = { claimId, batches: remaining, totals };
    await job.updateData(next);
    const polls = Math.min(...remaining.map((b) => b.polls));
    const delay = Math.max(waitMs, backoffDelay(polls + 1, { ...deps.retry, baseDelayMs: settings.pollBaseMs, maxDelayMs: settings.maxPollDelayMs }, undefined));
    return postpone(job, token, delay);
  };
}

/** Logs a complete batch's counts (a warning when rows failed) and adds them to the totals. */
function noteComplete(log: BulkDeliveryDeps['logger'], claimId: string, totals: BulkStatusTotals, status: BatchStatus): void {
  totals.batchSize += status.batchSize;
  totals.successfulUpdates += status.successfulUpdates;
  totals.profilesNotFound += status.profilesNotFound;
  totals.failedUpdates += status.failedUpdates;
  const counts = { claimId, batchSize: status.batchSize, consumedCount: status.consumedCount, successfulUpdates: status.successfulUpdates, profilesNotFound: status.profilesNotFound, failedUpdates: status.failedUpdates };
  if (status.failedUpdates > 0 || status.profilesNotFound > 0) {
    // Target names no rows: which visitors did not land cannot be known, only how many.
    log.warn(counts, 'bulk batch complete, but Target reports rows that did not land');
  } else {
    log.info(counts, 'bulk batch complete');
  }
}

/**
 * Submits a batch's values again (read from the in-flight hashes, as sent, in chunks).
 * Returns the new batches to poll, or undefined when the budget or Target says "later"; a
 * file Target now rejects outright is dead-lettered.
 */
async function resubmit(deps: BulkDeliveryDeps, job: Job, claimId: string, batch: BulkStatusJob['batches'][number]): Promise<{ batches: BulkStatusJob['batches']; deadLettered: number } | undefined> {
  const read = await readRows(batch.visitors, (chunk) => deps.store.readInFlight(claimId, chunk));
  let deadLettered = 0;
  if (read.oversize.length > 0) {
    await deadLetterVisitors(deps, 'bulk-status', job, claimId, read.oversize, profileTooLarge());
    deadLettered += read.oversize.length;
  }
  if (read.builder.rows === 0) return { batches: [], deadLettered };
  const files = read.builder.build();
  if (!(await deps.budgets.bulk.reserve(files.length)).granted) return undefined;
  const out: BulkStatusJob['batches'] = [];
  for (const file of files) {
    const vks = file.visitors.map(visitorKey);
    try {
      const statusUrl = await deps.client.submitBulk(file.body);
      out.push({ statusUrl, visitors: vks, submittedAt: Date.now(), polls: 0, resubmits: batch.resubmits + 1 });
    } catch (error) {
      const classified = classifyError(error);
      if (classified.kind === 'transient') return undefined;
      const rejected = await deps.store.readInFlight(claimId, vks);
      await deadLetterVisitors(deps, 'bulk-status', job, claimId, rejected, classified);
      deadLettered += rejected.length;
    }
  }
  return { batches: out, deadLettered };
}
