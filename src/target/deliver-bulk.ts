import type { Job, Queue } from 'bullmq';
import type { VisitorSnapshot } from '../coalesce/store.js';
import { PipelineError, classifyError } from '../errors.js';
import { parseVisitorKey, visitorKey } from '../events/index.js';
import type { BulkStatusJob, DeliverJob } from '../queues.js';
import { buildBulkFiles, type BulkFile } from './bulk-file.js';
import { PROFILE_DATA_LIMIT_BYTES, profileDataBytes } from './single-request.js';
import { noteOldest, type DeliverySummary } from './deliver-single.js';
import { deadLetterVisitors, postpone, retryOrGiveUp, type DeliveryDeps } from './delivery-context.js';

export interface BulkDeliveryDeps extends DeliveryDeps {
  statusQueue: Queue<BulkStatusJob>;
  /** First batch status poll after a submit. */
  statusFirstPollMs: number;
}

/** Builds the bulk files for these in-flight snapshots (one set per identity kind). */
export function filesFor(snapshots: readonly VisitorSnapshot[]): BulkFile[] {
  return buildBulkFiles(snapshots.map((s) => ({ visitor: parseVisitorKey(s.vk), values: valuesOf(s) })));
}

function valuesOf(snapshot: VisitorSnapshot): Map<string, string> {
  return new Map([...snapshot.attributes].map(([name, u]) => [name, u.value]));
}

/**
 * Delivers one claim through the Bulk Profile Update API v2: the newest values of every
 * visitor in the claim go into batch files (split by identity kind, 500,000 rows, 50 MB),
 * each posted form-style after taking a call from the shared 50-per-minute bulk budget.
 * The claim stays held until Target reports the batch `complete` (a delayed bulk-status job
 * polls it), so no later update for these visitors can overtake the batch (P4).
 */
export function createBulkDeliveryProcessor(deps: BulkDeliveryDeps) {
  return async (job: Job<DeliverJob>, token?: string): Promise<DeliverySummary> => {
    const { claimId, visitors } = job.data;
    const log = deps.logger.child({ queue: job.queueName, jobId: job.id, attempt: job.attemptsMade + 1 });
    const summary: DeliverySummary = { mode: 'bulk', delivered: 0, calls: 0, deadLettered: 0, retrying: 0, rerouted: 0 };
    // A status job for this claim means an earlier run of this job submitted its files and
    // died before it could finish: the batches are with Target and being polled.
    if ((await deps.statusQueue.getJob(claimId)) !== undefined) {
      log.info({ claimId }, 'bulk files of this claim were submitted by an earlier run: nothing to do');
      return summary;
    }
    // Frozen: the status poll acks exactly these values, whatever runs after this one.
    const frozen = await deps.store.snapshot(claimId, visitors, Date.now(), { freeze: true });
    // Target refuses a visitor's data over 64 KB; in a bulk file that shows only as a failed
    // update in the batch counts, so such a visitor is dead-lettered here, by itself.
    const oversize = frozen.filter((s) => profileDataBytes(valuesOf(s)) > PROFILE_DATA_LIMIT_BYTES);
    if (oversize.length > 0) {
      await deadLetterVisitors(deps, 'deliver-bulk', job, claimId, oversize, new PipelineError(`visitor update over Target's ${PROFILE_DATA_LIMIT_BYTES}-byte profile data limit`, 'PROFILE_TOO_LARGE', 'permanent'));
      summary.deadLettered += oversize.length;
    }
    const snapshots = frozen.filter((s) => !oversize.includes(s));
    if (snapshots.length === 0) return summary;
    const files = filesFor(snapshots);
    const budget = await deps.budgets.bulk.reserve(files.length);
    if (!budget.granted) {
      log.info({ claimId, files: files.length, retryInMs: budget.retryInMs }, 'bulk call budget spent: waiting');
      return postpone(job, token, budget.retryInMs);
    }
    const byVk = new Map(snapshots.map((s) => [s.vk, s]));
    const batches: BulkStatusJob['batches'] = [];
    for (const file of files) {
      const fileSnapshots = file.visitors.map((v) => byVk.get(visitorKey(v))).filter((s): s is VisitorSnapshot => s !== undefined);
      try {
        const statusUrl = await deps.client.submitBulk(file.body);
        summary.calls += 1;
        batches.push({ statusUrl, visitors: fileSnapshots.map((s) => s.vk), submittedAt: Date.now(), polls: 0, resubmits: 0 });
        for (const s of fileSnapshots) noteOldest(summary, s);
      } catch (error) {
        const classified = classifyError(error);
        if (classified.kind === 'transient') {
          // All files of the claim go again on the retry: resending values Target already
          // took is harmless, and it keeps one status job per claim.
          log.info({ claimId, code: classified.code, status: classified.details.status }, 'bulk submit failed: retrying');
          return retryOrGiveUp(deps, 'deliver-bulk', job, token, claimId, snapshots.filter((s) => byVk.has(s.vk)), classified);
        }
        await deadLetterVisitors(deps, 'deliver-bulk', job, claimId, fileSnapshots, classified);
        for (const s of fileSnapshots) byVk.delete(s.vk);
        summary.deadLettered += fileSnapshots.length;
      }
    }
    if (batches.length > 0) {
      // Job id = claim id: the flusher's lease sweep finds it and keeps the claim alive.
      await deps.statusQueue.add('poll', { claimId, batches }, { jobId: claimId, delay: deps.statusFirstPollMs });
    }
    summary.delivered = batches.reduce((n, b) => n + b.visitors.length, 0);
    summary.rowsPerFile = batches.map((b) => b.visitors.length);
    log.info({ claimId, visitors: visitors.length, files: files.length, ...summary }, 'bulk submitted');
    return summary;
  };
}
