import type { BackgroundLoad } from './rate-limit.js';

/** Processing time of the batches accepted from now on: `processingMs + random() * jitterMs`. */
export interface BatchTiming {
  processingMs: number;
  jitterMs: number;
}

/** Other users of the account calling the APIs that share the per-minute limit. */
export interface OtherUsersOptions {
  /** Their calls per minute (per `bulkRateWindowMs` window), spread evenly. */
  callsPerMinute: number;
  /** How long they keep calling, from now. Default: until `restore()`. */
  durationMs?: number;
}

/** A bulk batch Target takes and processes, whose answer comes only after `answerAfterMs`. */
export interface LateBatchAnswer {
  answerAfterMs: number;
  /** Its processing time, instead of the simulator's (`slowBatches` or the start options). */
  processingMs?: number;
}

/** The account-level faults that are set (counts of id lists, not the ids). */
export interface AccountFaultsView {
  rejectVisitors: number;
  failRowsUnlisted: number;
  loseBulkRows: number;
  slowVisitors: number;
  stickNextBatches: number;
  lateBatchAnswers: number;
  slowBatches: { batchProcessingMs: number; batchProcessingJitterMs: number } | null;
  otherUsers: { callsPerMinute: number; from: string; until?: string } | null;
  authFailuresLeft: number;
}

/**
 * Faults about data and the account rather than one endpoint's availability: visitors
 * Target refuses or answers slowly, batches that stick or process slowly, other users
 * spending the shared limit. The {@link FaultInjector} carries them; `restore()` clears
 * them with the rest.
 */
export class AccountFaults {
  private stuckLeft = 0;
  private readonly lateAnswers: LateBatchAnswer[] = [];
  private readonly rejected = new Map<string, number>();
  private readonly slow = new Map<string, number>();
  private readonly unlisted = new Set<string>();
  private readonly lost = new Map<string, number>();
  private timing: BatchTiming | undefined;
  private others: BackgroundLoad | undefined;
  private readonly authStorm: number[] = [];

  /** @param clock the simulator's clock (epoch ms). */
  constructor(protected readonly clock: () => number) {}

  /**
   * Updates naming this visitor id are refused, like a profile Target will not take, until
   * `restore()`: a single update (the id in the query string or in a form body) answers
   * `status` (default 400); a bulk row with this id is not applied, counts as a failed
   * update of its batch and is listed as failed in the batch status details.
   */
  rejectVisitor(id: string, status = 400): void {
    this.rejected.set(id, status);
  }

  /** The status an update for this visitor id must get, if it is refused. */
  rejectionFor(id: string | undefined): number | undefined {
    return id === undefined ? undefined : this.rejected.get(id);
  }

  /**
   * Bulk rows with this visitor id fail (a failed update of their batch) without being
   * listed among the failed profiles of the status details, until `restore()`: "rows fail
   * without ids", which Adobe does not rule out. Single updates are not affected.
   */
  failRowsUnlisted(id: string): void {
    this.unlisted.add(id);
  }

  /** Whether bulk rows with this id fail unlisted. */
  failsUnlisted(id: string): boolean {
    return this.unlisted.has(id);
  }

  /**
   * The next bulk row with this visitor id is accepted, counted as a successful update of
   * its batch, and never stored: one of the rows Adobe says may not be onboarded. Once per
   * call (a second call loses a second row); `restore()` forgets rows not yet lost.
   */
  loseBulkRow(id: string): void {
    this.lost.set(id, (this.lost.get(id) ?? 0) + 1);
  }

  /** Whether the bulk row with this id being accepted now must be lost (consumes one). */
  takeLostRow(id: string): boolean {
    const left = this.lost.get(id) ?? 0;
    if (left === 0) return false;
    if (left === 1) this.lost.delete(id);
    else this.lost.set(id, left - 1);
    return true;
  }

  /** Single updates naming this visitor id take `ms` longer to answer, until `restore()`. */
  slowVisitor(id: string, ms: number): void {
    this.slow.set(id, ms);
  }

  /** The extra delay of a single update for this visitor id (0: none). */
  slownessFor(id: string): number {
    return this.slow.get(id) ?? 0;
  }

  /** The next `n` accepted batches report `stuck` and never apply their rows. */
  stickNextBatches(n: number): void {
    this.stuckLeft += n;
  }

  /** Whether the batch being accepted now must get stuck (consumes one). */
  takeStuckBatch(): boolean {
    if (this.stuckLeft === 0) return false;
    this.stuckLeft -= 1;
    return true;
  }

  /**
   * The next `n` bulk submits that Target takes are answered only `answerAfterMs` later;
   * each batch is taken and processed (in `processingMs`, when given) whether or not the
   * client is still waiting. A client that gave up before has lost the answer of a batch
   * Target holds: Adobe documents nothing about such a batch, so it may land at any time,
   * after newer values too (docs/invariants.md, P4).
   */
  answerBatchesLate(n: number, late: LateBatchAnswer): void {
    if (!(late.answerAfterMs >= 0) || !((late.processingMs ?? 0) >= 0))
      throw new RangeError('late answer and processing times must be 0 or more');
    for (let i = 0; i < n; i += 1) this.lateAnswers.push({ ...late });
  }

  /** The late answer of the batch being taken now, if one is due (consumes one). */
  takeLateAnswer(): LateBatchAnswer | undefined {
    return this.lateAnswers.shift();
  }

  /**
   * Batches accepted from now on take `processingMs` (plus `random() * jitterMs`) by the
   * simulator's clock, until `restore()` (back to the start options) or `slowBatches(undefined)`.
   * Batches already accepted keep their time.
   */
  slowBatches(timing: { processingMs: number; jitterMs?: number } | undefined): void {
    if (timing === undefined) {
      this.timing = undefined;
      return;
    }
    if (!(timing.processingMs >= 0) || !((timing.jitterMs ?? 0) >= 0))
      throw new RangeError('batch processing times must be 0 or more');
    this.timing = { processingMs: timing.processingMs, jitterMs: timing.jitterMs ?? 0 };
  }

  /** The batch timing set by `slowBatches`, if any. */
  batchTiming(): BatchTiming | undefined {
    return this.timing;
  }

  /**
   * Other users of the account make `callsPerMinute` calls per window of the shared
   * Admin/Reporting/bulk limit, evenly spread from now (for `durationMs`, else until
   * `restore()` or `otherUsers(undefined)`), so fewer are left for the pipeline. Adobe
   * documents that the limit counts these APIs together (per user, says a knowledge-base
   * article); the simulator takes the strictest reading, one pool for the account.
   */
  otherUsers(options: OtherUsersOptions | undefined): void {
    if (options === undefined) {
      this.others = undefined;
      return;
    }
    if (!(options.callsPerMinute >= 0)) throw new RangeError('callsPerMinute must be 0 or more');
    const from = this.clock();
    this.others = {
      callsPerWindow: options.callsPerMinute,
      from,
      ...(options.durationMs !== undefined ? { until: from + options.durationMs } : {}),
    };
  }

  /** The other users' load on the shared limit, if any. */
  otherUsersLoad(): BackgroundLoad | undefined {
    return this.others;
  }

  /**
   * The next `count` profile update calls (single, bulk, batch status; not fetch) fail
   * their credentials check with `status` (401 or 403), whatever token they carry: a storm
   * that ends by itself, as when a token is rotated and the new one takes a while to reach
   * every edge node.
   */
  authFailures(status: 401 | 403, count: number): void {
    for (let i = 0; i < count; i += 1) this.authStorm.push(status);
  }

  /** The status of the next injected credentials failure (consumes one), if any. */
  takeAuthFailure(): number | undefined {
    return this.authStorm.shift();
  }

  /** What is set (for `GET /_simulator/faults`). */
  describeAccount(): AccountFaultsView {
    return {
      rejectVisitors: this.rejected.size,
      failRowsUnlisted: this.unlisted.size,
      loseBulkRows: [...this.lost.values()].reduce((a, b) => a + b, 0),
      slowVisitors: this.slow.size,
      stickNextBatches: this.stuckLeft,
      lateBatchAnswers: this.lateAnswers.length,
      slowBatches:
        this.timing === undefined
          ? null
          : { batchProcessingMs: this.timing.processingMs, batchProcessingJitterMs: this.timing.jitterMs },
      otherUsers:
        this.others === undefined
          ? null
          : {
              callsPerMinute: this.others.callsPerWindow,
              from: new Date(this.others.from).toISOString(),
              ...(this.others.until !== undefined ? { until: new Date(this.others.until).toISOString() } : {}),
            },
      authFailuresLeft: this.authStorm.length,
    };
  }

  /** Clears every fault of this class. */
  protected restoreAccountFaults(): void {
    this.stuckLeft = 0;
    this.lateAnswers.length = 0;
    this.rejected.clear();
    this.slow.clear();
    this.unlisted.clear();
    this.lost.clear();
    this.timing = undefined;
    this.others = undefined;
    this.authStorm.length = 0;
  }
}
