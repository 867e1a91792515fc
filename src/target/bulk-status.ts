import type { Job } from 'bullmq';
import { PipelineError, classifyError } from '../errors.js';
import type { VisitorSnapshot } from '../coalesce/store.js';
import { visitorKey } from '../events/index.js';
import type { BulkStatusJob } from '../queues.js';
import { backoffDelay } from './backoff.js';
import { filesFor, type BulkDeliveryDeps } from './deliver-bulk.js';
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

export interface BulkStatusSummary {
  complete: number;
  acked: number;
  resubmitted: number;
  deadLettered: number;
  pending: number;
  profilesNotFound: number;
  failedUpdates: number;
}

/**
 * Polls the bulk batches of one claim until Target reports them `complete`, as a delayed
 * BullMQ job that reschedules itself (no sleeping loop). `complete` records the values as
 * delivered and releases the visitors; `incomplete` polls again with backoff; `stuck`, a
 * status Target no longer knows (it keeps only the last 10, for 24 h) or a batch incomplete
 * for too long is resubmitted with the same values up to `maxResubmits` times, then its
 * visitors are dead-lettered. Target reports no per-row errors: `profilesNotFound` and
 * `failedUpdates` are logged and returned for metrics.
 */
export function createBulkStatusProcessor(deps: BulkDeliveryDeps, settings: BulkStatusSettings) {
  return async (job: Job<BulkStatusJob>, token?: string): Promise<BulkStatusSummary> => {
    const { claimId } = job.data;
    const log = deps.logger.child({ queue: job.queueName, jobId: job.id, attempt: job.attemptsMade + 1 });
    const summary: BulkStatusSummary = { complete: 0, acked: 0, resubmitted: 0, deadLettered: 0, pending: 0, profilesNotFound: 0, failedUpdates: 0 };
    const remaining: BulkStatusJob['batches'] = [];
    let waitMs = 0;
    for (const batch of job.data.batches) {
      const budget = await deps.budgets.bulk.reserve(1);
      if (!budget.granted) {
        remaining.push(batch);
        waitMs = Math.max(waitMs, budget.retryInMs);
        continue;
      }
      let state: 'complete' | 'incomplete' | 'resubmit';
      try {
        const status = await deps.client.batchStatus(batch.statusUrl);
        summary.profilesNotFound += status.profilesNotFound;
        summary.failedUpdates += status.failedUpdates;
        if (status.status === 'complete') {
          log.info({ claimId, batchSize: status.batchSize, successfulUpdates: status.successfulUpdates, profilesNotFound: status.profilesNotFound, failedUpdates: status.failedUpdates }, 'bulk batch complete');
        }
        state = status.status === 'complete' ? 'complete' : status.status === 'stuck' ? 'resubmit' : 'incomplete';
      } catch (error) {
        const classified = classifyError(error);
        // A status Target no longer has (404) is as good as lost: submit the values again.
        state = classified.kind === 'permanent' ? 'resubmit' : 'incomplete';
        if (classified.kind === 'transient') waitMs = Math.max(waitMs, classified.details.retryAfterMs ?? 0);
      }
      if (state === 'incomplete' && Date.now() - batch.submittedAt > settings.giveUpPollingAfterMs) state = 'resubmit';

      if (state === 'complete') {
        summary.complete += 1;
        for (const snapshot of await deps.store.readInFlight(claimId, batch.visitors)) {
          const acked = await deps.store.ack(claimId, snapshot);
          if (acked === 'done') summary.acked += 1;
        }
        continue;
      }
      if (state === 'incomplete') {
        remaining.push({ ...batch, polls: batch.polls + 1 });
        continue;
      }
      const snapshots = await deps.store.readInFlight(claimId, batch.visitors);
      if (batch.resubmits >= settings.maxResubmits) {
        await deadLetterVisitors(deps, 'bulk-status', job, claimId, snapshots, new PipelineError(`bulk batch did not complete after ${batch.resubmits} resubmissions`, 'BULK_BATCH_STUCK', 'permanent'));
        summary.deadLettered += snapshots.length;
        continue;
      }
      const resubmitted = await resubmit(deps, job, claimId, snapshots, batch);
      if (resubmitted === undefined) {
        remaining.push(batch);
      } else {
        remaining.push(...resubmitted);
        summary.resubmitted += 1;
        log.warn({ claimId, resubmits: batch.resubmits + 1 }, 'bulk batch stuck or lost: resubmitted');
      }
    }
    summary.pending = remaining.length;
    if (remaining.length === 0) return summary;
    await deps.store.renewLeases(remaining.flatMap((b) => b.visitors));
    await job.updateData({ claimId, batches: remaining });
    const polls = Math.min(...remaining.map((b) => b.polls));
    const delay = Math.max(waitMs, backoffDelay(polls + 1, { ...deps.retry, baseDelayMs: settings.pollBaseMs, maxDelayMs: settings.maxPollDelayMs }, undefined));
    return postpone(job, token, delay);
  };
}

/**
 * Submits a batch's values again. Returns the new batches to poll, or undefined when the
 * budget or Target says "later"; a file Target now rejects outright is dead-lettered.
 */
async function resubmit(deps: BulkDeliveryDeps, job: Job, claimId: string, snapshots: VisitorSnapshot[], batch: BulkStatusJob['batches'][number]): Promise<BulkStatusJob['batches'] | undefined> {
  if (snapshots.length === 0) return [];
  const files = filesFor(snapshots);
  if (!(await deps.budgets.bulk.reserve(files.length)).granted) return undefined;
  const byVk = new Map(snapshots.map((s) => [s.vk, s]));
  const out: BulkStatusJob['batches'] = [];
  for (const file of files) {
    const vks = file.visitors.map(visitorKey);
    try {
      const statusUrl = await deps.client.submitBulk(file.body);
      out.push({ statusUrl, visitors: vks, submittedAt: Date.now(), polls: 0, resubmits: batch.resubmits + 1 });
    } catch (error) {
      const classified = classifyError(error);
      if (classified.kind === 'transient') return undefined;
      const rejected = vks.map((vk) => byVk.get(vk)).filter((s): s is VisitorSnapshot => s !== undefined);
      await deadLetterVisitors(deps, 'bulk-status', job, claimId, rejected, classified);
    }
  }
  return out;
}
