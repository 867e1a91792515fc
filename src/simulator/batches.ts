import { applyBatchRows, type BatchRows } from './batch-rows.js';
import { BATCH_STATUS_CAP, BATCH_STATUS_RETENTION_MS } from './limits.js';
import type { IdentityKind } from './identity.js';
import type { ProfileStore } from './store.js';
import type { BatchStatusView } from './xml.js';

export type { BulkApi } from './batch-rows.js';

/** A parsed file ready to be queued (`api` default `'v2'`). */
export type BatchInput = BatchRows;

interface BatchRecord extends BatchStatusView {
  submittedAt: number;
}

/** A batch accepted but not yet processed. */
interface PendingBatch {
  record: BatchRecord;
  input: BatchInput;
  dueAt: number;
  sequence: number;
  stuck: boolean;
  rejectedRows: ReadonlySet<number>;
  unlistedRows: ReadonlySet<number>;
  lostRows: ReadonlySet<number>;
  timer: NodeJS.Timeout;
}

/** Settings of the batch queue. */
export interface BatchQueueOptions {
  clientCode: string;
  /**
   * Which never-seen ids v1 (an update-only API, like the single update) treats as profiles
   * Target already has: the simulator's `createOnSingleUpdate` (an mboxPC was issued by
   * Target, so its profile exists). Default: none.
   */
  updateOnlyCreates?: (kind: IdentityKind) => boolean;
  /** Longest value accepted in a cell; longer makes that row a failed update. */
  maxValueLength: number;
  /** The clock that completes batches and ages statuses (epoch ms). Default `Date.now`. */
  now?: () => number;
  /** How long a status is answered after submit. Default 24 h (`BATCH_STATUS_RETENTION_MS`). */
  retentionMs?: number;
  /** Most statuses kept; the oldest go first. Default `BATCH_STATUS_CAP` (100,000). */
  maxStatuses?: number;
  /** Apply the v2 override rule (strictest reading; see store.ts). Default true. */
  v2Override?: boolean;
  /** List the ids of failed rows in the status details. Default true. */
  listFailedRows?: boolean;
  /** Where removals by the override, failed and lost rows are counted (e.g. the SimulatorStats). */
  counters?: { overrideRemovals: number; failedRows: number; lostRows: number };
}

/** How one accepted batch is to be processed. */
export interface SubmitOptions {
  /** How long the batch stays `incomplete`, by the queue's clock. Default 0. */
  processingMs?: number;
  /** The batch reports `stuck` (once processed) and never applies its rows. */
  stuck?: boolean;
  /** Indexes of rows Target refuses (`rejectVisitor`): each counts as a failed update. */
  rejectedRows?: ReadonlySet<number>;
  /** Indexes of rows that fail without being listed in the status (`failRowsUnlisted`). */
  unlistedRows?: ReadonlySet<number>;
  /** Indexes of rows counted successful but never stored (`bulkRowLoss`, `loseBulkRows`). */
  lostRows?: ReadonlySet<number>;
}

/** setTimeout's longest delay (24.8 days); a batch due later rearms its timer. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Accepted bulk batches.
 *
 * Timing: a batch is `incomplete` until the clock `now()` reaches its submit time plus its
 * processing time; then its rows land in the store, in one go, and it is `complete` (or
 * `stuck`, and nothing lands). Completion is checked lazily — on every status call and on
 * every store access (fetch, single update, a test reading the store) — and by a timer for
 * the real clock, so a test or the benchmark that moves `now` sees 10-minute batches
 * complete at once. Batches due together complete in order of due time, so with processing
 * jitter a later batch can land before an earlier one.
 *
 * Rows are applied by batch-rows.ts.
 *
 * Retention (not documented by Adobe; a simulator choice): a status is answered for
 * `retentionMs` after submit (default 24 h: exactly 24 h old is still answered, a
 * millisecond older is not), and at most `maxStatuses` are kept. An id no longer (or never)
 * known is `undefined` here and 404 at the endpoint. A batch whose status was forgotten
 * still lands.
 */
export class BatchQueue {
  private readonly records = new Map<string, BatchRecord>();
  private readonly waiting = new Map<string, PendingBatch>();
  private sequence = 0;
  private settling = false;
  private readonly now: () => number;
  private readonly retentionMs: number;
  private readonly maxStatuses: number;
  private readonly counters: { overrideRemovals: number; failedRows: number; lostRows: number };

  constructor(
    private readonly store: ProfileStore,
    private readonly options: BatchQueueOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.retentionMs = options.retentionMs ?? BATCH_STATUS_RETENTION_MS;
    this.maxStatuses = options.maxStatuses ?? BATCH_STATUS_CAP;
    this.counters = options.counters ?? { overrideRemovals: 0, failedRows: 0, lostRows: 0 };
  }

  /** Queues a batch and returns its id. */
  submit(input: BatchInput, options: SubmitOptions = {}): string {
    this.settle();
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
      failedIds: [],
      submittedAt,
    };
    this.records.set(batchId, record);
    this.forgetOld();
    const processingMs = Math.max(0, options.processingMs ?? 0);
    const batch: PendingBatch = {
      record,
      input,
      dueAt: submittedAt + processingMs,
      sequence: this.sequence,
      stuck: options.stuck === true,
      rejectedRows: options.rejectedRows ?? new Set(),
      unlistedRows: options.unlistedRows ?? new Set(),
      lostRows: options.lostRows ?? new Set(),
      timer: this.arm(batchId, processingMs),
    };
    this.waiting.set(batchId, batch);
    return batchId;
  }

  /**
   * A timer that settles when the batch should be due. Timers can fire a little early by
   * the wall clock, and a moved clock can disagree with them, so one that finds its batch
   * still waiting arms again for the time left.
   */
  private arm(batchId: string, delayMs: number): NodeJS.Timeout {
    return setTimeout(
      () => {
        this.settle();
        const batch = this.waiting.get(batchId);
        if (batch !== undefined) batch.timer = this.arm(batchId, Math.max(1, batch.dueAt - this.now()));
      },
      Math.min(Math.max(0, delayMs), MAX_TIMER_MS),
    );
  }

  /** The status of a batch, or undefined when Target no longer (or never) knew it. */
  status(batchId: string): BatchStatusView | undefined {
    this.settle();
    this.forgetOld();
    const record = this.records.get(batchId);
    if (record === undefined) return undefined;
    const { submittedAt: _submittedAt, ...view } = record;
    return { ...view, failedIds: [...record.failedIds] };
  }

  /** Number of batches accepted but not yet processed. */
  get pending(): number {
    return this.waiting.size;
  }

  /**
   * Processes every batch whose time has come by the clock (idempotent, cheap when none is
   * due). Reentrant calls (a store listener reading the store) return at once.
   */
  settle(): void {
    if (this.settling || this.waiting.size === 0) return;
    this.settling = true;
    try {
      const now = this.now();
      const due = [...this.waiting.values()].filter((b) => b.dueAt <= now);
      due.sort((a, b) => a.dueAt - b.dueAt || a.sequence - b.sequence);
      for (const batch of due) {
        this.waiting.delete(batch.record.batchId);
        clearTimeout(batch.timer);
        if (batch.stuck) {
          batch.record.status = 'stuck';
          continue;
        }
        applyBatchRows(this.store, batch.input, batch.record, {
          maxValueLength: this.options.maxValueLength,
          v2Override: this.options.v2Override ?? true,
          listFailedRows: this.options.listFailedRows ?? true,
          rejectedRows: batch.rejectedRows,
          unlistedRows: batch.unlistedRows,
          lostRows: batch.lostRows,
          counters: this.counters,
          updateOnlyCreates: this.options.updateOnlyCreates ?? (() => false),
        });
        batch.record.status = 'complete';
      }
    } finally {
      this.settling = false;
    }
  }

  /** Cancels batches not yet processed (used when the simulator stops). */
  close(): void {
    for (const batch of this.waiting.values()) clearTimeout(batch.timer);
    this.waiting.clear();
  }

  /** Drops statuses past retention, then the oldest past the cap (Map order = submit order). */
  private forgetOld(): void {
    const cutoff = this.now() - this.retentionMs;
    for (const [id, record] of this.records) {
      if (record.submittedAt >= cutoff && this.records.size <= this.maxStatuses) break;
      this.records.delete(id);
    }
  }
}

/** Whether an update-only API (single update, bulk v1) creates a never-seen id of this kind, per `createOnSingleUpdate`. */
export function singleUpdateCreates(creates: boolean | 'all' | 'pcId' | 'none', kind: IdentityKind): boolean {
  return creates === true || creates === 'all' || (creates === 'pcId' && kind === 'pcId');
}
