import type { Job } from 'bullmq';
import type { VisitorSnapshot, VisitorStore } from '../coalesce/store.js';
import { describeError, type DeadLetters } from '../dead-letters.js';
import { classifyError, type PipelineError } from '../errors.js';
import { parseVisitorKey } from '../events/index.js';
import type { Logger } from '../logger.js';
import type { DeliverJob } from '../queues.js';
import type { TargetClient } from './client.js';

export interface SingleDeliveryDeps {
  store: VisitorStore;
  client: TargetClient;
  deadLetters: DeadLetters;
  logger: Logger;
  /** Parallel Target calls within one job. Default 16. */
  parallelCalls?: number;
}

export interface DeliverySummary {
  delivered: number;
  calls: number;
  deadLettered: number;
  retrying: number;
}

/** Sends again when newer values were folded in while a call was under way; bounded. */
const MAX_RESENDS = 5;

/**
 * Delivers one claim through the Single Profile Update API. Each attempt sends the newest
 * values held for each visitor still in the claim; a visitor's values are cleared only after
 * Target accepted them. Permanent failures dead-letter that visitor alone; transient ones
 * make the job retry with backoff (only the visitors not yet delivered), and on the last
 * attempt they are dead-lettered so nothing is dropped silently (P1, P9).
 */
export function createSingleDeliveryProcessor(deps: SingleDeliveryDeps) {
  const parallel = deps.parallelCalls ?? 16;
  return async (job: Job<DeliverJob>): Promise<DeliverySummary> => {
    const { claimId, visitors } = job.data;
    const log = deps.logger.child({ queue: job.queueName, jobId: job.id, attempt: job.attemptsMade + 1 });
    const summary: DeliverySummary = { delivered: 0, calls: 0, deadLettered: 0, retrying: 0 };
    const snapshots = await deps.store.snapshot(claimId, visitors);
    const transient: Array<{ snapshot: VisitorSnapshot; error: PipelineError }> = [];

    const deliverOne = async (first: VisitorSnapshot): Promise<void> => {
      let snapshot: VisitorSnapshot | undefined = first;
      for (let round = 0; snapshot !== undefined && round < MAX_RESENDS; round += 1) {
        const current: VisitorSnapshot = snapshot;
        try {
          const values = new Map([...current.attributes].map(([name, u]) => [name, u.value]));
          summary.calls += await deps.client.updateSingle(parseVisitorKey(current.vk), values);
        } catch (error) {
          const classified = classifyError(error);
          if (classified.kind === 'permanent') {
            await deadLetter(deps, job, claimId, [current], classified);
            summary.deadLettered += 1;
          } else {
            transient.push({ snapshot: current, error: classified });
          }
          return;
        }
        const acked = await deps.store.ack(claimId, current);
        if (acked !== 'more') {
          summary.delivered += 1;
          return;
        }
        [snapshot] = await deps.store.snapshot(claimId, [current.vk]);
      }
    };

    for (let i = 0; i < snapshots.length; i += parallel) {
      await Promise.all(snapshots.slice(i, i + parallel).map(deliverOne));
    }

    log.info({ claimId, visitors: visitors.length, ...summary, failed: transient.length }, 'single delivery');
    const [firstFailure] = transient;
    if (firstFailure === undefined) return summary;
    const attempts = job.opts.attempts ?? 1;
    if (job.attemptsMade + 1 >= attempts) {
      await deadLetter(deps, job, claimId, transient.map((t) => t.snapshot), firstFailure.error);
    }
    // Throwing hands the job back to BullMQ's backoff; the next attempt re-reads the claim.
    throw firstFailure.error;
  };
}

async function deadLetter(deps: SingleDeliveryDeps, job: Job<DeliverJob>, claimId: string, snapshots: VisitorSnapshot[], error: PipelineError): Promise<void> {
  const now = Date.now();
  await deps.deadLetters.add({
    stage: 'deliver-single',
    visitors: snapshots.map((s) => ({ vk: s.vk, attributes: Object.fromEntries(s.attributes) })),
    error: describeError(error),
    attempts: job.attemptsMade + 1,
    firstAttemptAt: job.processedOn ?? job.timestamp,
    lastAttemptAt: now,
  });
  await deps.store.release(claimId, snapshots.map((s) => s.vk), now);
}
