import type { Queue } from 'bullmq';
import type { PipelineError } from '../errors.js';
import type { DeadLetter, Stage } from '../jobs/catalog.js';

/** Writes entries to the dead-letter queue (a BullMQ queue, so dashboards show it). */
export class DeadLetters {
  private readonly listeners: Array<(entry: DeadLetter) => void> = [];

  constructor(private readonly queue: Queue<DeadLetter>) {}

  /** Adds an entry; a `dedupeId` makes a retried stage write the same entry only once. */
  async add(entry: DeadLetter, dedupeId?: string): Promise<void> {
    await this.queue.add(entry.stage, entry, dedupeId !== undefined ? { jobId: dedupeId } : {});
    for (const listener of this.listeners) listener(entry);
  }

  /** Called after every entry this process writes (metrics, logs). */
  onAdded(listener: (entry: DeadLetter) => void): void {
    this.listeners.push(listener);
  }
}

/** The error part of a dead letter, from a classified error. */
export function describeError(error: PipelineError): DeadLetter['error'] {
  return {
    class: error.name,
    code: error.code,
    message: error.message,
    ...(error.details.status !== undefined ? { status: error.details.status } : {}),
    ...(error.details.bodyExcerpt !== undefined ? { bodyExcerpt: error.details.bodyExcerpt } : {}),
  };
}

/** A dead letter for input that failed validation at a stage (no retry can fix it). */
export function invalidInputLetter(
  stage: Stage,
  source: string,
  event: unknown,
  errors: string[],
  at: number,
): DeadLetter {
  return {
    stage,
    source,
    events: [event],
    error: { class: 'ValidationError', code: 'EVENT_INVALID', message: errors.join('; ') },
    attempts: 1,
    firstAttemptAt: at,
    lastAttemptAt: at,
  };
}
