/** Options for an injected failure. */
export interface FailureOptions {
  /** When set, the failing answer carries `Retry-After: <seconds>`. */
  retryAfterSeconds?: number;
}

/** What the simulator must do with the next profile call. */
export type FaultDecision =
  | { kind: 'none' }
  | { kind: 'drop' }
  | { kind: 'fail'; status: number; retryAfterSeconds?: number };

interface Failure {
  status: number;
  retryAfterSeconds?: number;
}

/**
 * Makes the simulated Target misbehave. Faults apply to the single update, bulk update and
 * batch status endpoints; the Fetch Profile API is exempt so tests can check what landed
 * while Target is "down". Precedence per call: a pending dropped connection, then a pending
 * `failNext`, then an ongoing outage, then the random error rate.
 */
export class FaultInjector {
  private outageFailure: Failure | undefined;
  private readonly queued: Failure[] = [];
  private dropsLeft = 0;
  private stuckLeft = 0;
  private rate: { probability: number; failure: Failure } | undefined;
  private readonly rejected = new Map<string, number>();
  private latency: number;

  /** @param initialLatencyMs the `latencyMs` option; `restore()` returns to it. */
  constructor(private readonly initialLatencyMs = 0) {
    this.latency = initialLatencyMs;
  }

  /** Every profile call answers `status` (default 503) until `restore()`. */
  outage(status = 503, opts: FailureOptions = {}): void {
    this.outageFailure = { status, ...retryAfter(opts) };
  }

  /** The next `n` profile calls answer `status`; later calls behave normally again. */
  failNext(n: number, status: number, opts: FailureOptions = {}): void {
    for (let i = 0; i < n; i += 1) this.queued.push({ status, ...retryAfter(opts) });
  }

  /** The next `n` profile calls lose their connection without any answer. */
  dropConnections(n: number): void {
    this.dropsLeft += n;
  }

  /**
   * Each profile call fails with `status` with this probability (0–1), until `restore()`:
   * a steady error rate for soak tests and the benchmark. `random` is injectable for tests.
   */
  errorRate(probability: number, status = 500, opts: FailureOptions & { random?: () => number } = {}): void {
    if (!(probability >= 0 && probability <= 1)) throw new RangeError('error rate must be between 0 and 1');
    this.rate = probability === 0 ? undefined : { probability, failure: { status, ...retryAfter(opts) } };
    this.random = opts.random ?? Math.random;
  }

  private random: () => number = Math.random;

  /**
   * Single updates naming this visitor id (`mboxPC` or `mbox3rdPartyId` in the query) are
   * refused with `status` (default 400), like a profile Target will not take, until `restore()`.
   */
  rejectVisitor(id: string, status = 400): void {
    this.rejected.set(id, status);
  }

  /** The status a single update for this visitor id must get, if it is refused. */
  rejectionFor(id: string | undefined): number | undefined {
    return id === undefined ? undefined : this.rejected.get(id);
  }

  /** Extra delay before each profile call is handled. */
  setLatency(ms: number): void {
    this.latency = ms;
  }

  /** The next `n` accepted batches report `stuck` and never apply their rows. */
  stickNextBatches(n: number): void {
    this.stuckLeft += n;
  }

  /** Ends outages, forgets pending failures, drops and stuck batches, resets latency. */
  restore(): void {
    this.outageFailure = undefined;
    this.queued.length = 0;
    this.dropsLeft = 0;
    this.stuckLeft = 0;
    this.rate = undefined;
    this.rejected.clear();
    this.latency = this.initialLatencyMs;
  }

  /** Current added latency in milliseconds. */
  get latencyMs(): number {
    return this.latency;
  }

  /** Decides (and consumes) the fault for one incoming profile call. */
  takeDecision(): FaultDecision {
    if (this.dropsLeft > 0) {
      this.dropsLeft -= 1;
      return { kind: 'drop' };
    }
    const failure = this.queued.shift() ?? this.outageFailure ?? (this.rate !== undefined && this.random() < this.rate.probability ? this.rate.failure : undefined);
    return failure === undefined ? { kind: 'none' } : { kind: 'fail', ...failure };
  }

  /** Whether the batch being accepted now must get stuck (consumes one). */
  takeStuckBatch(): boolean {
    if (this.stuckLeft === 0) return false;
    this.stuckLeft -= 1;
    return true;
  }
}

function retryAfter(opts: FailureOptions): { retryAfterSeconds?: number } {
  return opts.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: opts.retryAfterSeconds };
}
