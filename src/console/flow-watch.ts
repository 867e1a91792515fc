import type { Job, Worker } from 'bullmq';
import type { DeadLetters } from '../dlq/writer.js';
import { QUEUE_NAMES, type DeadLetter } from '../jobs/catalog.js';
import { mergedBeforeFailure } from '../map/processor.js';
import type { FlowCounter } from './flow-counter.js';

/**
 * Feeds the console's flow counts from this process' workers, as the metrics are fed
 * (src/metrics/pipeline-events.ts reads the same summaries): merged events from the map
 * worker, single updates Target answered, bulk rows a complete batch counted successful,
 * and every dead letter written. Returns a function that stops watching.
 */
export function watchFlow(
  counter: Pick<FlowCounter, 'add'>,
  workers: ReadonlyMap<string, Worker>,
  deadLetters: Pick<DeadLetters, 'onAdded'>,
): () => void {
  const detachers: Array<() => void> = [];
  for (const [queue, worker] of workers) {
    const onCompleted = (_job: Job, result: unknown): void => {
      for (const [name, n] of flowOfCompleted(queue, result)) counter.add(name, n);
    };
    const onProgress = (_job: Job, progress: unknown): void => {
      if (queue === QUEUE_NAMES.bulkStatus) counter.add('delivered', bulkRowsLanded(progress));
    };
    // A merge that failed part way merged the rest for good: its retry reports them as replayed.
    const onFailed = (_job: Job | undefined, error: Error): void => {
      const merged = queue === QUEUE_NAMES.ingest ? mergedBeforeFailure(error) : undefined;
      if (merged !== undefined) counter.add('merged', merged.applied);
    };
    worker.on('completed', onCompleted);
    worker.on('progress', onProgress);
    worker.on('failed', onFailed);
    detachers.push(() => {
      worker.off('completed', onCompleted);
      worker.off('progress', onProgress);
      worker.off('failed', onFailed);
    });
  }
  // DeadLetters has no way to remove a listener; a flag makes a detached one inert.
  let watching = true;
  deadLetters.onAdded((entry: DeadLetter) => {
    if (watching) counter.add('dead_lettered', (entry.events?.length ?? 0) + (entry.visitors?.length ?? 0));
  });
  return () => {
    watching = false;
    for (const detach of detachers) detach();
  };
}

/**
 * What a finished job adds to the flow. A bulk delivery job's `delivered` counts visitors
 * submitted, not landed: those are counted when their batch completes ({@link bulkRowsLanded}).
 * Pure.
 */
export function flowOfCompleted(queue: string, result: unknown): Array<['merged' | 'delivered', number]> {
  const summary = asRecord(result);
  if (queue === QUEUE_NAMES.ingest) return [['merged', count(summary.applied)]];
  if (queue === QUEUE_NAMES.deliverSingle && summary.mode !== 'bulk') return [['delivered', count(summary.delivered)]];
  return [];
}

/** Rows a complete bulk batch counted successful (BatchCompleteProgress in src/deliver/bulk-status.ts). Pure. */
export function bulkRowsLanded(progress: unknown): number {
  return count(asRecord(asRecord(progress).batchComplete).successfulUpdates);
}

function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0;
}
