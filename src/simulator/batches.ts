import type { BatchRow } from './bulk-format.js';
import { attributeValueProblem, identityProblem, type IdentityKind } from './identity.js';
import { BATCH_STATUS_KEEP, BATCH_STATUS_TTL_MS } from './limits.js';
import type { ProfileStore } from './store.js';
import type { BatchStatusView } from './xml.js';

/** A parsed file ready to be queued. */
export interface BatchInput {
  kind: IdentityKind;
  columns: string[];
  rows: BatchRow[];
}

interface BatchRecord extends BatchStatusView {
  submittedAt: number;
}

/** Settings of the batch queue. */
export interface BatchQueueOptions {
  clientCode: string;
  /** How long a batch stays `incomplete` before its rows are applied. */
  processingMs: number;
  /** Longest value accepted in a cell; longer makes that row a failed update. */
  maxValueLength: number;
  /** The clock that ages statuses (epoch ms). Default `Date.now`; tests move it. */
  now?: () => number;
}

/** How one accepted batch is to be processed (fault injection). */
export interface SubmitOptions {
  /** The batch reports `stuck` and never applies its rows. */
  stuck?: boolean;
  /** Indexes of rows Target refuses (`rejectVisitor`): each counts as a failed update. */
  rejectedRows?: ReadonlySet<number>;
}

/**
 * Accepted bulk batches: rows are applied when a batch completes (after `processingMs`),
 * never at submit time, so a client that reads profiles right after submitting sees what
 * real Target shows — nothing yet. Only the last 10 statuses are kept, each for at most 24
 * hours (documented): a status exactly 24 h old is still answered, one a millisecond older
 * is unknown, and the status endpoint answers 404 for it. A batch is still applied after
 * its status was forgotten.
 */
export class BatchQueue {
  private readonly records = new Map<string, BatchRecord>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private sequence = 0;
  private readonly now: () => number;

  constructor(
    private readonly store: ProfileStore,
    private readonly options: BatchQueueOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Queues a batch and returns its id. A `stuck` batch reports `stuck` and never applies. */
  submit(input: BatchInput, options: SubmitOptions = {}): string {
    this.sequence += 1;
    const submittedAt = this.now();
    const batchId = `${this.options.clientCode}-${submittedAt}-${this.sequence}`;
    const record: BatchRecord = {
      batchId,
      status: 'incomplete',
      batchSize: input.rows.length,
      consumedCount: 0,
      successfulUpdates: 0,
      profilesNotFound: 0,
      failedUpdates: 0,
      submittedAt,
    };
    this.records.set(batchId, record);
    this.forgetOld();
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (options.stuck === true) record.status = 'stuck';
      else this.apply(record, input, options.rejectedRows ?? new Set());
    }, this.options.processingMs);
    this.timers.add(timer);
    return batchId;
  }

  /** The status of a batch, or undefined when Target no longer (or never) knew it. */
  status(batchId: string): BatchStatusView | undefined {
    this.forgetOld();
    const record = this.records.get(batchId);
    if (record === undefined) return undefined;
    const { submittedAt: _submittedAt, ...view } = record;
    return view;
  }

  /** Number of batches accepted but not yet applied (nor stuck). */
  get pending(): number {
    return this.timers.size;
  }

  /** Cancels batches not yet applied (used when the simulator stops). */
  close(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private apply(record: BatchRecord, input: BatchInput, rejectedRows: ReadonlySet<number>): void {
    for (const [index, row] of input.rows.entries()) {
      record.consumedCount += 1;
      const attrs = new Map<string, string>();
      input.columns.forEach((column, i) => {
        const value = row.values[i];
        if (value !== undefined) attrs.set(column, value);
      });
      // Documented: a row with only empty values is skipped (neither success nor failure).
      if (attrs.size === 0) continue;
      if (rejectedRows.has(index) || !this.rowIsValid(input.kind, row.id, attrs)) {
        record.failedUpdates += 1;
        continue;
      }
      // v2 creates profiles it has not seen, so profilesNotFound stays 0. A row that would
      // take the visitor's data over 64 KB ('tooLarge') is a failed update.
      const outcome = this.store.apply(input.kind, row.id, attrs, { create: true, via: 'bulk' });
      if (outcome === 'created' || outcome === 'updated') record.successfulUpdates += 1;
      else if (outcome === 'notFound') record.profilesNotFound += 1;
      else record.failedUpdates += 1;
    }
    record.status = 'complete';
  }

  private rowIsValid(kind: IdentityKind, id: string, attrs: Map<string, string>): boolean {
    if (identityProblem(kind, id) !== undefined) return false;
    for (const [name, value] of attrs) {
      if (attributeValueProblem(name, value, this.options.maxValueLength) !== undefined) return false;
    }
    return true;
  }

  private forgetOld(): void {
    const cutoff = this.now() - BATCH_STATUS_TTL_MS;
    for (const [id, record] of this.records) {
      if (this.records.size > BATCH_STATUS_KEEP || record.submittedAt < cutoff) this.records.delete(id);
    }
  }
}
