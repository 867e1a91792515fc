import type { BatchRow } from './bulk-format.js';
import { attributeValueProblem, identityProblem, type IdentityKind } from './identity.js';
import { BATCH_STATUS_CAP, BATCH_STATUS_RETENTION_MS } from './limits.js';
import type { ProfileStore } from './store.js';
import type { BatchStatusView } from './xml.js';

/** Which Bulk Profile Update API took the batch. */
export type BulkApi = 'v1' | 'v2';

/** A parsed file ready to be queued. */
export interface BatchInput {
  /** Default `'v2'`. */
  api?: BulkApi;
  kind: IdentityKind;
  columns: string[];
  rows: BatchRow[];
}

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
  timer: NodeJS.Timeout;
}

/** Settings of the batch queue. */
export interface BatchQueueOptions {
  clientCode: string;
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
  /** Where removals by the override and failed rows are counted (e.g. the SimulatorStats). */
  counters?: { overrideRemovals: number; failedRows: number };
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
}

/** Attribute name → non-empty value of one row. */
function rowAttributes(columns: readonly string[], row: BatchRow): Map<string, string> {
  const attrs = new Map<string, string>();
  columns.forEach((column, i) => {
    const value = row.values[i];
    if (value !== undefined && value !== '') attrs.set(column, value);
  });
  return attrs;
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
 * Rows: an empty cell sets nothing; a batch whose rows are all empty is ignored entirely
 * (documented); a row with an invalid id or value, over the 64 KB profile cap, or refused by
 * `rejectVisitor` / `failRowsUnlisted`, is a failed update, and its id is listed in the
 * status details (not for `failRowsUnlisted`, nor with `listFailedRows: false`); v2 rows create profiles and follow the override rule of store.ts; v1 rows
 * update existing profiles only (else `profilesNotFound`) and override nothing.
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
  private readonly counters: { overrideRemovals: number; failedRows: number };

  constructor(
    private readonly store: ProfileStore,
    private readonly options: BatchQueueOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.retentionMs = options.retentionMs ?? BATCH_STATUS_RETENTION_MS;
    this.maxStatuses = options.maxStatuses ?? BATCH_STATUS_CAP;
    this.counters = options.counters ?? { overrideRemovals: 0, failedRows: 0 };
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
    return setTimeout(() => {
      this.settle();
      const batch = this.waiting.get(batchId);
      if (batch !== undefined) batch.timer = this.arm(batchId, Math.max(1, batch.dueAt - this.now()));
    }, Math.min(Math.max(0, delayMs), MAX_TIMER_MS));
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
        if (batch.stuck) batch.record.status = 'stuck';
        else this.apply(batch);
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

  private apply({ record, input, rejectedRows, unlistedRows }: PendingBatch): void {
    const rows = input.rows.map((row) => ({ row, attrs: rowAttributes(input.columns, row) }));
    // Documented: a batch with only empty values is ignored entirely.
    const ignored = rows.every(({ attrs }) => attrs.size === 0);
    const v1 = input.api === 'v1';
    const override = !v1 && (this.options.v2Override ?? true);
    const fail = (index: number, id: string): void => {
      record.failedUpdates += 1;
      this.counters.failedRows += 1;
      if ((this.options.listFailedRows ?? true) && !unlistedRows.has(index)) record.failedIds.push(id);
    };
    for (const [index, { row, attrs }] of rows.entries()) {
      record.consumedCount += 1;
      if (ignored) continue;
      const refused = rejectedRows.has(index) || unlistedRows.has(index);
      if (attrs.size === 0) {
        // Sets nothing and counts neither way; under the strictest reading of the override
        // it is still a v2 update of that visitor, so it removes what the last v2 row set.
        if (override && !refused && identityProblem(input.kind, row.id) === undefined) {
          this.counters.overrideRemovals += this.store.applyRow(input.kind, row.id, attrs, { create: false, via: 'bulk', v2Override: true }).removed.length;
        }
        continue;
      }
      if (refused || !this.rowIsValid(input.kind, row.id, attrs)) {
        fail(index, row.id);
        continue;
      }
      // v2 creates profiles it has not seen; v1 updates existing ones only (notFound). A row
      // that would take the visitor's data over 64 KB ('tooLarge') is a failed update.
      const { outcome, removed } = this.store.applyRow(input.kind, row.id, attrs, { create: !v1, via: 'bulk', v2Override: override });
      this.counters.overrideRemovals += removed.length;
      if (outcome === 'created' || outcome === 'updated') record.successfulUpdates += 1;
      else if (outcome === 'notFound') record.profilesNotFound += 1;
      else fail(index, row.id);
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

  /** Drops statuses past retention, then the oldest past the cap (Map order = submit order). */
  private forgetOld(): void {
    const cutoff = this.now() - this.retentionMs;
    for (const [id, record] of this.records) {
      if (record.submittedAt >= cutoff && this.records.size <= this.maxStatuses) break;
      this.records.delete(id);
    }
  }
}
