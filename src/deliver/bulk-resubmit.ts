import type { Job } from 'bullmq';
import { CredentialsRefusedError, bulkSubmitMayLand, classifyError } from '../errors.js';
import { visitorKey } from '../events/index.js';
import type { BulkBatch } from '../jobs/catalog.js';
import { backoffDelay, honouredRetryAfter } from './backoff.js';
import { apiFor, readRows, settleReadRows, type BulkDeliveryDeps } from './deliver-bulk.js';
import { deadLetterVisitors, pauseBulkOn503 } from './delivery-context.js';

/** What a resubmit leaves to follow: batches to poll, and at most one entry waiting to go again. */
export interface Resubmitted {
  batches: BulkBatch[];
  deadLettered: number;
  /** True when some rows could not go now (budget, pause, a failing submit): they wait in an entry of `batches`. */
  deferred: boolean;
  /** Visitors of a file whose submit failed in a way that may still land (`bulkSubmitMayLand`), and when it left. */
  lost?: { visitors: string[]; sentAt: number };
}

/**
 * Submits a batch's rows again: its visitors' frozen in-flight values with their delivered
 * values (read in chunks, planned as a first submit is), for a batch Target called `stuck`,
 * one past the give-up time, or rows Target listed as failed. Returns the batches to poll:
 * every file posted is among them, even when a later one failed (a batch at Target must stay
 * tracked, or it could land after newer values), and rows that could not go now wait in an
 * entry without a status link, due again after the budget's wait or a backoff (never at
 * once: that would spin). A file Target now rejects outright is dead-lettered.
 */
export async function resubmit(
  deps: BulkDeliveryDeps,
  job: Job,
  claimId: string,
  batch: BulkBatch,
  next: { resubmits: number; rowAttempt: number },
): Promise<Resubmitted> {
  const later = (visitors: string[], waitMs: number): BulkBatch => ({
    statusUrl: '',
    visitors,
    submittedAt: Date.now(),
    polls: 0,
    resubmits: next.resubmits,
    rowAttempt: next.rowAttempt,
    retryAt: Date.now() + Math.max(waitMs, backoffDelay(1, deps.retry, undefined)),
  });
  const read = await readRows(
    batch.visitors,
    (chunk) => deps.store.readInFlight(claimId, chunk, { withDelivered: true }),
    (vks) => deps.store.knownVisitors(vks),
    deps.pcIdRoute,
  );
  let deadLettered = await settleReadRows(deps, 'bulk-status', job, claimId, read);
  if (read.builder.rows === 0) return { batches: [], deadLettered, deferred: false };
  const files = read.builder.build();
  const budget = await deps.budgets.bulk.reserve(files.length);
  if (!budget.granted)
    return {
      batches: [
        later(
          files.flatMap((f) => f.visitors.map(visitorKey)),
          budget.retryInMs,
        ),
      ],
      deadLettered,
      deferred: true,
    };
  const out: BulkBatch[] = [];
  for (const [index, file] of files.entries()) {
    const vks = file.visitors.map(visitorKey);
    const sentAt = Date.now(); // before the POST, as in deliver-bulk.ts
    try {
      const statusUrl = await deps.client.submitBulk(file.body, apiFor(file.kind, deps.pcIdRoute));
      out.push({
        statusUrl,
        visitors: vks,
        submittedAt: sentAt,
        polls: 0,
        resubmits: next.resubmits,
        rowAttempt: next.rowAttempt,
      });
    } catch (error) {
      const classified = classifyError(error);
      await pauseBulkOn503(deps, classified);
      if (error instanceof CredentialsRefusedError) await deps.hold.open(classified.details.status ?? 401);
      if (classified.kind === 'transient') {
        const rest = files.slice(index).flatMap((f) => f.visitors.map(visitorKey));
        // Retry-After capped like every other (src/deliver/backoff.ts).
        const waitMs = Math.max(
          honouredRetryAfter(classified.details.retryAfterMs, deps.retry) ?? 0,
          (await deps.budgets.bulk.peek()).pausedForMs,
        );
        const lost = bulkSubmitMayLand(classified) ? { lost: { visitors: vks, sentAt } } : {};
        return { batches: [...out, later(rest, waitMs)], deadLettered, deferred: true, ...lost };
      }
      const rejected = await deps.store.readInFlight(claimId, vks);
      await deadLetterVisitors(deps, 'bulk-status', job, claimId, rejected, classified);
      deadLettered += rejected.length;
    }
  }
  return { batches: out, deadLettered, deferred: false };
}
