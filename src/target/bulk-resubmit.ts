import type { Job } from 'bullmq';
import { CredentialsRefusedError, classifyError } from '../errors.js';
import { visitorKey } from '../events/index.js';
import type { BulkBatch } from '../queues.js';
import { apiFor, readRows, settleReadRows, type BulkDeliveryDeps } from './deliver-bulk.js';
import { deadLetterVisitors, pauseBulkOn503 } from './delivery-context.js';

/**
 * Submits a batch's rows again: its visitors' frozen in-flight values with their delivered
 * values (read in chunks, planned as a first submit is), for a batch Target called `stuck`,
 * one past the give-up time, or rows Target listed as failed. Returns the new batches to
 * poll, or undefined when the budget or Target says "later"; a file Target now rejects
 * outright is dead-lettered.
 */
export async function resubmit(
  deps: BulkDeliveryDeps, job: Job, claimId: string, batch: BulkBatch,
  next: { resubmits: number; rowAttempt: number },
): Promise<{ batches: BulkBatch[]; deadLettered: number } | undefined> {
  const read = await readRows(batch.visitors, (chunk) => deps.store.readInFlight(claimId, chunk, { withDelivered: true }), (vks) => deps.store.knownVisitors(vks), deps.pcIdRoute);
  let deadLettered = await settleReadRows(deps, 'bulk-status', job, claimId, read);
  if (read.builder.rows === 0) return { batches: [], deadLettered };
  const files = read.builder.build();
  if (!(await deps.budgets.bulk.reserve(files.length)).granted) return undefined;
  const out: BulkBatch[] = [];
  for (const file of files) {
    const vks = file.visitors.map(visitorKey);
    try {
      const statusUrl = await deps.client.submitBulk(file.body, apiFor(file.kind, deps.pcIdRoute));
      out.push({ statusUrl, visitors: vks, submittedAt: Date.now(), polls: 0, resubmits: next.resubmits, rowAttempt: next.rowAttempt });
    } catch (error) {
      const classified = classifyError(error);
      await pauseBulkOn503(deps, classified);
      if (error instanceof CredentialsRefusedError) await deps.hold.open(classified.details.status ?? 401);
      if (classified.kind === 'transient') return undefined;
      const rejected = await deps.store.readInFlight(claimId, vks);
      await deadLetterVisitors(deps, 'bulk-status', job, claimId, rejected, classified);
      deadLettered += rejected.length;
    }
  }
  return { batches: out, deadLettered };
}
