import { randomUUID } from 'node:crypto';
import type { Job } from 'bullmq';
import pLimit from 'p-limit';
import type { VisitorSnapshot } from '../coalesce/store.js';
import { stampsOf } from '../coalesce/delivery-log.js';
import type { AuditedDelivery } from '../audit/landing-schedule.js';
import { CredentialsRefusedError, PipelineError, classifyError, mayLandLater } from '../errors.js';
import { parseVisitorKey } from '../events/index.js';
import { WORKERS, readJobData, type DeliverJob } from '../jobs/catalog.js';
import { deliverJobName } from '../jobs/names.js';
import type { OldestTimes } from '../target/bulk-file.js';
import { planSingleUpdate } from '../target/single-request.js';
import {
  deadLetterVisitors,
  holdOnRefusal,
  postpone,
  retryOrGiveUp,
  waitWhileHeld,
  type DeliveryDeps,
} from './delivery-context.js';
import { addUntracked } from './untracked-copies.js';

/**
 * What one delivery job did. `oldestEventMs` (the oldest value delivered) feeds the event →
 * delivered histogram, `oldestIntakeMs` (the earliest received) intake → delivered.
 */
export interface DeliverySummary extends OldestTimes {
  mode: 'single' | 'bulk';
  delivered: number;
  calls: number;
  deadLettered: number;
  retrying: number;
  rerouted: number;
  /** Bulk: rows of each file submitted. */
  rowsPerFile?: number[];
}

/** Sends again when newer values were folded in while a call was under way; bounded. */
const MAX_RESENDS = 5;

function valuesOf(snapshot: VisitorSnapshot): Map<string, string> {
  return new Map([...snapshot.attributes].map(([name, u]) => [name, u.value]));
}

function callsFor(clientCode: string, snapshot: VisitorSnapshot): number {
  return planSingleUpdate(clientCode, parseVisitorKey(snapshot.vk), valuesOf(snapshot)).length;
}

/**
 * Delivers one claim through the Single Profile Update API. Each attempt sends the newest
 * values held for each visitor still in the claim; a visitor's values are cleared only after
 * Target accepted them. Calls are reserved from the shared rolling-24-hour budget first:
 * when it is spent, `auto` hands the claim to bulk delivery and `single` waits.
 * Permanent failures dead-letter that visitor alone; transient ones retry the job (only the
 * visitors not yet delivered) until the retry policy is spent, then dead-letter (P1, P9).
 */
export function createSingleDeliveryProcessor(deps: DeliveryDeps, parallelCalls: number = WORKERS.singleParallelCalls) {
  const clientCode = deps.client.settings.clientCode;
  return async (job: Job<DeliverJob>, token?: string): Promise<DeliverySummary> => {
    const data = readJobData('deliver', job);
    const { claimId, visitors } = data;
    // Visitors an earlier attempt's call may still land for (mayLandLater): read back once accepted.
    const answerLost = new Set(data.answerLost);
    const log = deps.logger.child({ queue: job.queueName, jobId: job.id, attempt: job.attemptsMade + 1 });
    const summary: DeliverySummary = {
      mode: 'single',
      delivered: 0,
      calls: 0,
      deadLettered: 0,
      retrying: 0,
      rerouted: 0,
    };
    await waitWhileHeld(deps, job, token);
    const snapshots = await deps.store.snapshot(claimId, visitors);
    if (snapshots.length === 0) return summary;

    const needed = snapshots.reduce((n, s) => n + callsFor(clientCode, s), 0);
    // Calls that then fail are not refunded: Target may have counted them.
    const budget = await deps.budgets.single.reserve(needed);
    if (!budget.granted) {
      if (deps.mode === 'auto') {
        // The visitors move to a new claim owned by the bulk job, so that job's id is free
        // even when the flusher already sent part of this claim by bulk.
        const bulkClaim = randomUUID();
        const moved = await deps.store.moveClaim(
          claimId,
          bulkClaim,
          snapshots.map((s) => s.vk),
        );
        // A visitor whose earlier call may still land keeps that mark in bulk delivery: it is
        // read back once its row completes (src/deliver/untracked-copies.ts), the call counted
        // as sent now, which is no earlier than it was.
        const lost = moved.filter((vk) => answerLost.has(vk));
        if (moved.length > 0)
          await deps.queues.deliverBulk.add(
            deliverJobName('bulk', moved.length),
            { claimId: bulkClaim, visitors: moved, ...addUntracked({}, lost, Date.now()) },
            { jobId: bulkClaim },
          );
        summary.rerouted = moved.length;
        log.warn(
          { claimId, visitors: snapshots.length, used: budget.used },
          'single budget spent: handed the claim to bulk delivery',
        );
        return summary;
      }
      log.warn({ claimId, retryInMs: budget.retryInMs }, 'single budget spent: waiting');
      return postpone(job, token, budget.retryInMs);
    }

    // Until their answers are in, every visitor about to be sent counts as one whose answer
    // may be lost: a process killed during the calls leaves the job saying so, and its next
    // run reads those visitors back once delivered (P4, P7). Rewritten below with the calls
    // whose answer was really lost.
    await job.updateData({ ...data, answerLost: [...new Set([...answerLost, ...snapshots.map((s) => s.vk)])] });
    const transient: Array<{ snapshot: VisitorSnapshot; error: PipelineError }> = [];
    // Accepted deliveries sampled for the landing audit (src/audit/landing-schedule.ts), scheduled once the pool is done.
    const audited: AuditedDelivery[] = [];
    const deliverOne = async (first: VisitorSnapshot): Promise<void> => {
      let snapshot: VisitorSnapshot | undefined = first;
      for (let round = 0; snapshot !== undefined; round += 1) {
        const current: VisitorSnapshot = snapshot;
        const calls = callsFor(clientCode, current);
        if (round > 0 && (round >= MAX_RESENDS || !(await deps.budgets.single.reserve(calls)).granted)) {
          transient.push({
            snapshot: current,
            error: new PipelineError(
              'newer values keep arriving or the budget is spent; sending again later',
              'RESEND_DEFERRED',
              'transient',
            ),
          });
          return;
        }
        // Forgotten (src/erasure/forget.ts) or reissued since the claim was read: this job no
        // longer holds the visitor, so nothing of it may be sent. One HGET per visitor call.
        if (!(await deps.store.holds(claimId, current.vk))) return;
        if (deps.client.abandoned) {
          // Shutting down past SHUTDOWN_TIMEOUT_MS: not sent, so nothing of it can land later.
          transient.push({ snapshot: current, error: new PipelineError('shutting down', 'SHUTDOWN', 'transient') });
          return;
        }
        const sentAt = Date.now();
        try {
          // Read the count first: `summary.calls += await …` would read calls before the await
          // and lose the updates of calls running in parallel.
          const made = await deps.client.updateSingle(parseVisitorKey(current.vk), valuesOf(current));
          summary.calls += made;
        } catch (error) {
          const classified = classifyError(error);
          if (classified.kind === 'permanent') {
            await deadLetterVisitors(deps, 'deliver-single', job, claimId, [current], classified);
            summary.deadLettered += 1;
          } else {
            transient.push({ snapshot: current, error: classified });
            if (mayLandLater(classified)) answerLost.add(current.vk);
          }
          return;
        }
        noteOldest(summary, current);
        const acked = await deps.store.ack(claimId, current);
        if (acked !== 'lost' && deps.audits !== undefined) {
          const check: AuditedDelivery = { vk: current.vk, sentAt, route: 'single', attributes: stampsOf(current) };
          // An earlier call with older values may land after this one and overwrite it
          // (docs/invariants.md, P4): always read back, and any other value is sent again.
          // Scheduled now, not with the sampled ones after the pool: a process killed in
          // between would leave the visitor delivered and never read back.
          if (answerLost.delete(current.vk)) await deps.audits.schedule([{ ...check, afterLostAnswer: true }]);
          else if (deps.audits.pick([current]).length > 0) audited.push(check);
        }
        if (acked !== 'more') {
          // `lost`: forgotten (or reissued) while the call was on the wire; not recorded.
          if (acked === 'done') summary.delivered += 1;
          return;
        }
        [snapshot] = await deps.store.snapshot(claimId, [current.vk]);
      }
    };
    // A pool, not waves: a slow call holds up only its own slot, so up to `parallelCalls`
    // visitors are always under way (waves of 16 waited for the slowest call of each).
    const slot = pLimit(parallelCalls);
    // Settled, not all: after an error (Redis) the other calls still finish and are recorded
    // before the job fails, rather than going on while its retry already runs.
    const settled = await Promise.allSettled(snapshots.map((s) => slot(() => deliverOne(s))));
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    await deps.audits?.schedule(audited);

    summary.retrying = transient.length;
    log.info({ claimId, visitors: visitors.length, ...summary }, 'single delivery');
    // Written before anything below can postpone the job (a hold throws DelayedError).
    const { answerLost: _written, ...rest } = data;
    await job.updateData(answerLost.size > 0 ? { ...rest, answerLost: [...answerLost] } : rest);
    if (transient.length === 0) return summary;
    // Target refused our credentials: not these visitors' fault; every delivery holds (P10).
    await holdOnRefusal(deps, job, token, transient.find((t) => t.error instanceof CredentialsRefusedError)?.error);
    // The longest Retry-After sets the delay; a visitor dead-lettered says its own failure.
    const errors = new Map(transient.map((t) => [t.snapshot, t.error]));
    return retryOrGiveUp(
      deps,
      'deliver-single',
      job,
      token,
      claimId,
      transient.map((t) => t.snapshot),
      retryCause(transient.map((t) => t.error)),
      (s) => errors.get(s) ?? retryCause([...errors.values()]),
    );
  };
}

/**
 * The failure a retry is scheduled by: the one with the longest Retry-After, so a 503 seen
 * first cannot make the retry ignore a later 429's "wait 30 s". Without any, the first.
 */
export function retryCause(errors: readonly PipelineError[]): PipelineError {
  let cause = errors[0];
  if (cause === undefined) throw new Error('retryCause needs at least one error');
  for (const error of errors)
    if ((error.details.retryAfterMs ?? -1) > (cause.details.retryAfterMs ?? -1)) cause = error;
  return cause;
}

/** Remembers the oldest event and intake times delivered (for latency metrics). */
export function noteOldest(summary: OldestTimes, snapshot: VisitorSnapshot): void {
  for (const { stamp } of snapshot.attributes.values()) {
    const ms = Number(stamp.slice(0, 15));
    if (summary.oldestEventMs === undefined || ms < summary.oldestEventMs) summary.oldestEventMs = ms;
  }
  const received = snapshot.receivedAtMs;
  if (received !== undefined && (summary.oldestIntakeMs === undefined || received < summary.oldestIntakeMs))
    summary.oldestIntakeMs = received;
}
