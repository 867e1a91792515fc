import type { BulkBatch, BulkStatusJob, DeliverJob } from '../jobs/catalog.js';
import type { PipelineQueues } from '../jobs/queues.js';
import type { RedisClient } from '../redis/connection.js';
import { stripFailedJobs } from './failed-jobs.js';

/** The delivery queues whose failed jobs (kept FAILED_JOB_RETENTION_S) list visitor keys. */
export type DeliveryQueues = Pick<PipelineQueues, 'deliverSingle' | 'deliverBulk' | 'bulkStatus'>;

function batchesWithout(batches: readonly BulkBatch[], vks: ReadonlySet<string>): BulkBatch[] {
  return batches.map((b) => ({ ...b, visitors: b.visitors.filter((vk) => !vks.has(vk)) }));
}

function keysOf(job: Partial<DeliverJob & BulkStatusJob>): number {
  return (
    (job.visitors?.length ?? 0) +
    (job.answerLost?.length ?? 0) +
    [...(job.submitted ?? []), ...(job.batches ?? [])].reduce((n, b) => n + b.visitors.length, 0)
  );
}

/**
 * A delivery or bulk-status job's data without the visitor keys of `vks` (its claim's
 * visitors, the lost-answer marks, each batch's visitors), null when it named no one else, or
 * undefined when it named none of them. Pure.
 */
export function deliveryJobWithout<J extends Partial<DeliverJob & BulkStatusJob>>(
  job: J,
  vks: ReadonlySet<string>,
): J | null | undefined {
  const next: J = { ...job };
  if (job.visitors !== undefined) next.visitors = job.visitors.filter((vk) => !vks.has(vk));
  if (job.answerLost !== undefined) next.answerLost = job.answerLost.filter((vk) => !vks.has(vk));
  if (job.submitted !== undefined) next.submitted = batchesWithout(job.submitted, vks);
  if (job.batches !== undefined) next.batches = batchesWithout(job.batches, vks);
  const left = keysOf(next);
  if (left === keysOf(job)) return undefined;
  return left === 0 ? null : next;
}

/**
 * Takes forgotten visitors' keys out of failed delivery and bulk-status jobs, which keep them
 * for FAILED_JOB_RETENTION_S (src/erasure/failed-jobs.ts). Their values are not there: a
 * delivery job holds visitor keys, the values stay in the store (erased by then).
 */
export async function stripFailedDeliveryJobs(
  queues: DeliveryQueues,
  redis: RedisClient,
  vks: ReadonlySet<string>,
): Promise<{ removed: number; edited: number }> {
  const needles = [...vks].map((vk) => JSON.stringify(vk));
  const counts = { removed: 0, edited: 0 };
  for (const queue of [queues.deliverSingle, queues.deliverBulk] as const) {
    const r = await stripFailedJobs(queue, redis, needles, (job) => deliveryJobWithout(job, vks));
    counts.removed += r.removed;
    counts.edited += r.edited;
  }
  const r = await stripFailedJobs(queues.bulkStatus, redis, needles, (job) => deliveryJobWithout(job, vks));
  return { removed: counts.removed + r.removed, edited: counts.edited + r.edited };
}
