import type { Job } from 'bullmq';
import type { Pipeline } from '../pipeline.js';
import { LANDING_RESULTS } from '../audit/landing-compare.js';
import { QUEUE_NAMES, type DeadLetter } from '../jobs/catalog.js';
import { mergedBeforeFailure } from '../map/processor.js';
import { codeLabel, type Metrics } from './metrics.js';

/** What the metrics read from a running pipeline: its workers and dead-letter writer. */
export type WatchedPipeline = Pick<Pipeline, 'workers' | 'deadLetters'>;

/**
 * Feeds the counters and histograms from this process' workers: BullMQ's `completed` event
 * carries the processor's return value (MapSummary, FlushResult, DeliverySummary), `failed`
 * tells retries from final failures, and the dead-letter writer reports every entry.
 * Summaries are read field by field as `unknown`, so a processor that adds or renames a
 * field degrades one series instead of breaking the others. Returns a function that stops
 * watching.
 */
export function watchPipeline(metrics: Metrics, pipeline: WatchedPipeline): () => void {
  const detachers: Array<() => void> = [];
  for (const [queue, worker] of pipeline.workers) {
    const onCompleted = (job: Job, result: unknown): void => recordCompleted(metrics, queue, job, result);
    const onFailed = (job: Job | undefined, error: Error): void => recordFailed(metrics, queue, job, error);
    const onProgress = (_job: Job, progress: unknown): void => recordProgress(metrics, queue, progress);
    worker.on('completed', onCompleted);
    worker.on('failed', onFailed);
    worker.on('progress', onProgress);
    detachers.push(() => {
      worker.off('completed', onCompleted);
      worker.off('failed', onFailed);
      worker.off('progress', onProgress);
    });
  }
  // DeadLetters has no way to remove a listener; a flag makes a detached one inert.
  let watching = true;
  pipeline.deadLetters.onAdded((entry: DeadLetter) => {
    if (watching) metrics.deadLetters.inc({ stage: entry.stage, code: codeLabel(entry.error.code) });
  });
  return () => {
    watching = false;
    for (const detach of detachers) detach();
  };
}

function recordCompleted(metrics: Metrics, queue: string, job: Job, result: unknown): void {
  const finishedAt = job.finishedOn ?? Date.now();
  metrics.jobsCompleted.inc({ queue });
  if (job.processedOn !== undefined)
    metrics.jobDuration.observe({ queue }, Math.max(0, finishedAt - job.processedOn) / 1000);
  const summary = asRecord(result);
  if (queue === QUEUE_NAMES.ingest) {
    const data = asRecord(job.data);
    recordMapOutcomes(metrics, data, summary);
    if (typeof data.receivedAt === 'number')
      metrics.intakeToMerge.observe(Math.max(0, finishedAt - data.receivedAt) / 1000);
  } else if (queue === QUEUE_NAMES.flush) {
    const claimed = count(summary.claimed);
    if (claimed > 0) metrics.flushVisitors.observe(claimed);
    const reissued = count(summary.reissued);
    if (reissued > 0) metrics.flushReissued.inc(reissued);
  } else if (queue === QUEUE_NAMES.landingAudit) {
    // One check's findings per attribute (LandingAuditSummary in src/deliver/landing-audit.ts).
    for (const result of LANDING_RESULTS) {
      const n = count(summary[result]);
      if (n > 0)
        metrics.landingAudit.inc({ result, check: summary.check === 'lost_answer' ? 'lost_answer' : 'sampled' }, n);
    }
  } else if (isDeliveryQueue(queue)) {
    recordDelivery(metrics, queue, summary, finishedAt);
  }
}

/**
 * A bulk batch's rows as Target counted them, as the status job reports each batch that
 * completes (BatchCompleteProgress in src/deliver/bulk-status.ts): a claim's status job may
 * poll for hours, so its counts are not left for the run that finishes it.
 */
function recordProgress(metrics: Metrics, queue: string, progress: unknown): void {
  if (queue !== QUEUE_NAMES.bulkStatus) return;
  const batch = asRecord(asRecord(progress).batchComplete);
  for (const [field, outcome] of [
    ['successfulUpdates', 'successful'],
    ['profilesNotFound', 'profile_not_found'],
    ['failedUpdates', 'failed'],
  ] as const) {
    const n = count(batch[field]);
    if (n > 0) metrics.bulkRows.inc({ outcome }, n);
  }
  const unnamed = count(batch.failedUnnamed);
  if (unnamed > 0) metrics.bulkRowsFailedUnnamed.inc(unnamed);
}

function recordDelivery(metrics: Metrics, queue: string, summary: Record<string, unknown>, finishedAt: number): void {
  const mode = modeOf(queue, summary);
  metrics.deliveries.inc({ mode, outcome: 'completed' });
  const delivered = count(summary.delivered);
  if (delivered > 0) metrics.deliveredVisitors.inc({ mode }, delivered);
  const rerouted = count(summary.rerouted);
  if (rerouted > 0) metrics.reroutedVisitors.inc({ mode }, rerouted);
  // Calls to Target are not counted here: the Target client reports each one with its real
  // endpoint (Metrics.recordTargetCall), status polls and profile fetches included.
  if (typeof summary.oldestEventMs === 'number' && delivered > 0) {
    metrics.eventToDelivered.observe({ mode }, Math.max(0, finishedAt - summary.oldestEventMs) / 1000);
  }
  if (typeof summary.oldestIntakeMs === 'number' && delivered > 0) {
    metrics.intakeToDelivered.observe({ mode }, Math.max(0, finishedAt - summary.oldestIntakeMs) / 1000);
  }
  const rows = summary.rowsPerFile;
  if (Array.isArray(rows)) for (const n of rows) if (typeof n === 'number') metrics.bulkFileRows.observe(n);
}

/** The events of one map attempt, by outcome (a MapSummary, read field by field). */
function recordMapOutcomes(metrics: Metrics, data: Record<string, unknown>, summary: Record<string, unknown>): void {
  const source = typeof data.source === 'string' ? data.source : 'unknown';
  for (const outcome of ['applied', 'superseded', 'duplicate', 'late', 'replayed', 'suppressed', 'invalid'] as const) {
    const n = count(summary[outcome]);
    if (n > 0) metrics.mapEvents.inc({ source, outcome }, n);
  }
  const suppressed = count(summary.suppressed);
  if (suppressed > 0) metrics.suppressedEvents.inc({ source }, suppressed);
  const late = count(summary.late);
  if (late > 0) metrics.lateEvents.inc({ source }, late);
}

function recordFailed(metrics: Metrics, queue: string, job: Job | undefined, error: Error): void {
  metrics.jobAttemptsFailed.inc({ queue, code: codeLabel((error as { code?: unknown }).code) });
  if (job === undefined) return;
  // A merge that failed part way merged the rest for good: its retry reports them as replayed.
  const merged = queue === QUEUE_NAMES.ingest ? mergedBeforeFailure(error) : undefined;
  if (merged !== undefined) recordMapOutcomes(metrics, asRecord(job.data), merged);
  // BullMQ has counted this attempt already; a job moved to the failed set has finishedOn.
  const retrying = job.finishedOn === undefined && job.attemptsMade < (job.opts.attempts ?? 1);
  if (retrying) metrics.jobRetries.inc({ queue });
  else metrics.jobsFailed.inc({ queue });
  if (isDeliveryQueue(queue))
    metrics.deliveries.inc({ mode: modeOf(queue, {}), outcome: retrying ? 'retry' : 'failed' });
}

function isDeliveryQueue(queue: string): boolean {
  return queue === QUEUE_NAMES.deliverSingle || queue.startsWith('deliver-');
}

/** The summary's own mode when it has one (a single job may hand over to bulk), else the queue's. */
function modeOf(queue: string, summary: Record<string, unknown>): string {
  if (summary.mode === 'single' || summary.mode === 'bulk') return summary.mode;
  return queue.startsWith('deliver-') ? queue.slice('deliver-'.length) : queue;
}

function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0;
}
