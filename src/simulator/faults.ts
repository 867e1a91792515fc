import { AccountFaults } from './faults-account.js';

export { type BatchTiming, type OtherUsersOptions } from './faults-account.js';
/** The simulated endpoints faults can be aimed at. */
export const FAULT_ENDPOINTS = ['single', 'bulk', 'status', 'fetch', 'admin'] as const;
export type FaultEndpoint = (typeof FAULT_ENDPOINTS)[number];

/** Options for an injected failure. */
export interface FailureOptions {
  /** When set, the failing answer carries `Retry-After: <seconds>`. */
  retryAfterSeconds?: number;
  /** Aim the fault at one endpoint only; without it the fault is global (see {@link FaultInjector}). */
  endpoint?: FaultEndpoint;
}

/** A timed outage: calls between `from` and `until` (epoch ms, `until` excluded) fail. */
export interface OutageWindowOptions extends FailureOptions {
  /** HTTP status of the failing answers. Default 503. */
  status?: number;
  /** Start, epoch ms. Default: now. */
  from?: number;
  /** End, epoch ms (excluded). Give this or `durationMs`. */
  until?: number;
  /** Length from `from`, in ms. */
  durationMs?: number;
}

/** What the simulator must do with the next call. */
export type FaultDecision =
  { kind: 'none' } | { kind: 'drop' } | { kind: 'fail'; status: number; retryAfterSeconds?: number };

interface Failure {
  status: number;
  retryAfterSeconds?: number;
}

interface Window extends Failure {
  from: number;
  until: number;
}

interface Rate {
  probability: number;
  statuses: number[];
  retryAfterSeconds?: number;
}

/** The faults of one scope: global (`all`) or one endpoint. */
interface ScopeFaults {
  latencyMs: number | undefined;
  outage: Failure | undefined;
  windows: Window[];
  rate: Rate | undefined;
  queued: Failure[];
}

type Scope = 'all' | FaultEndpoint;

/** What is set right now, per scope (for `GET /_simulator/faults`). */
export interface FaultsView {
  latencyMs: number | undefined;
  outage: Failure | undefined;
  outageWindows: Array<{ status: number; from: string; until: string; active: boolean; retryAfterSeconds?: number }>;
  errorRate: Rate | undefined;
  failNext: number;
}

function emptyScope(): ScopeFaults {
  return { latencyMs: undefined, outage: undefined, windows: [], rate: undefined, queued: [] };
}

/**
 * Makes the simulated Target misbehave, globally or per endpoint (`single`, `bulk`,
 * `status`, `fetch`, `admin` = the simulated IMS and Admin API).
 *
 * - **Global** faults (no `endpoint`) apply to the three profile update endpoints — single
 *   update, bulk update and batch status — as they always have. The Fetch Profile API is
 *   exempt from them, so tests can check what landed while Target is "down"; faults aimed
 *   at `fetch` do apply to it. The same holds for `admin`.
 * - **Per endpoint**: latency and the error rate set for an endpoint replace the global ones
 *   for that endpoint; outages (open-ended or timed windows) add up — a call fails while its
 *   endpoint or the global scope has one.
 *
 * Precedence per call: a pending dropped connection (global), then a pending `failNext`
 * (the endpoint's, then the global one), then an outage (the endpoint's, then global;
 * open-ended before timed windows), then the error rate (the endpoint's, else the global).
 */
export class FaultInjector extends AccountFaults {
  private readonly scopes = new Map<Scope, ScopeFaults>();
  private dropsLeft = 0;
  private random: () => number = Math.random;
  private readonly now: () => number;

  /**
   * @param initialLatencyMs the global `latencyMs` option; `restore()` returns to it.
   * @param options.now the clock of outage windows (epoch ms). Default `Date.now`.
   */
  constructor(
    private readonly initialLatencyMs = 0,
    options: { now?: () => number } = {},
  ) {
    super(options.now ?? Date.now);
    this.now = options.now ?? Date.now;
    this.scope('all').latencyMs = initialLatencyMs;
  }

  /** Every call (of `endpoint`, else every profile call) answers `status` (default 503) until `restore()`. */
  outage(status = 503, opts: FailureOptions = {}): void {
    this.scope(opts.endpoint ?? 'all').outage = { status, ...retryAfter(opts) };
  }

  /**
   * Calls fail with `status` (default 503) from `from` (default now) until `until` or for
   * `durationMs`. Windows end by themselves; `restore()` or `clearOutages()` ends them early.
   */
  outageWindow(opts: OutageWindowOptions): void {
    const from = opts.from ?? this.now();
    const until = opts.until ?? (opts.durationMs !== undefined ? from + opts.durationMs : undefined);
    if (until === undefined) throw new RangeError('an outage window needs `until` or `durationMs`');
    if (!(until > from)) throw new RangeError('an outage window must end after it starts');
    this.scope(opts.endpoint ?? 'all').windows.push({ status: opts.status ?? 503, from, until, ...retryAfter(opts) });
  }

  /** Ends the open-ended outage and the outage windows of one scope (global when no endpoint). */
  clearOutages(endpoint?: FaultEndpoint): void {
    const scope = this.scope(endpoint ?? 'all');
    scope.outage = undefined;
    scope.windows = [];
  }

  /** The next `n` calls (of `endpoint`, else any profile call) answer `status`; later calls behave normally. */
  failNext(n: number, status: number, opts: FailureOptions = {}): void {
    const queued = this.scope(opts.endpoint ?? 'all').queued;
    for (let i = 0; i < n; i += 1) queued.push({ status, ...retryAfter(opts) });
  }

  /** The next `n` profile calls lose their connection without any answer. */
  dropConnections(n: number): void {
    this.dropsLeft += n;
  }

  /**
   * Each call fails with this probability (0–1), until `restore()`: a steady error rate for
   * soak tests and the benchmark. `status` may be a list of codes, one picked at random per
   * failure. Probability 0 clears the rate of that scope (an endpoint then follows the global
   * rate again). `random` is injectable for tests.
   */
  errorRate(
    probability: number,
    status: number | readonly number[] = 500,
    opts: FailureOptions & { random?: () => number } = {},
  ): void {
    if (!(probability >= 0 && probability <= 1)) throw new RangeError('error rate must be between 0 and 1');
    const statuses = typeof status === 'number' ? [status] : [...status];
    if (statuses.length === 0) throw new RangeError('error rate needs at least one status');
    this.scope(opts.endpoint ?? 'all').rate =
      probability === 0 ? undefined : { probability, statuses, ...retryAfter(opts) };
    if (opts.random !== undefined) this.random = opts.random;
  }

  /** Extra delay before each call (of `endpoint`, else every profile call without its own latency). */
  setLatency(ms: number, endpoint?: FaultEndpoint): void {
    this.scope(endpoint ?? 'all').latencyMs = ms;
  }

  /** Ends outages, forgets pending failures and drops, resets latency, and clears every fault of {@link AccountFaults}. */
  restore(): void {
    this.scopes.clear();
    this.scope('all').latencyMs = this.initialLatencyMs;
    this.dropsLeft = 0;
    this.restoreAccountFaults();
    this.random = Math.random;
  }

  /** Current global added latency in milliseconds. */
  get latencyMs(): number {
    return this.scope('all').latencyMs ?? 0;
  }

  /** The added latency of one endpoint: its own, else the global one (fetch, admin: their own only). */
  latencyFor(endpoint: FaultEndpoint): number {
    return this.scopes.get(endpoint)?.latencyMs ?? (isProfileUpdateCall(endpoint) ? this.latencyMs : 0);
  }

  /** Decides (and consumes) the fault for one incoming call to `endpoint`. */
  takeDecision(endpoint: FaultEndpoint): FaultDecision {
    const profileCall = isProfileUpdateCall(endpoint);
    const own = this.scopes.get(endpoint);
    const global = profileCall ? this.scopes.get('all') : undefined;
    if (profileCall && this.dropsLeft > 0) {
      this.dropsLeft -= 1;
      return { kind: 'drop' };
    }
    const now = this.now();
    const failure =
      own?.queued.shift() ??
      global?.queued.shift() ??
      activeOutage(own, now) ??
      activeOutage(global, now) ??
      this.randomFailure(own?.rate ?? global?.rate);
    return failure === undefined ? { kind: 'none' } : { kind: 'fail', ...failure };
  }

  /** What is set, per scope that has anything set (`all` = global). */
  describe(): Partial<Record<Scope, FaultsView>> {
    const now = this.now();
    const out: Partial<Record<Scope, FaultsView>> = {};
    for (const [name, scope] of this.scopes) {
      scope.windows = scope.windows.filter((w) => w.until > now);
      out[name] = {
        latencyMs: scope.latencyMs,
        outage: scope.outage,
        outageWindows: scope.windows.map((w) => ({
          status: w.status,
          from: new Date(w.from).toISOString(),
          until: new Date(w.until).toISOString(),
          active: w.from <= now,
          ...retryAfter(w),
        })),
        errorRate: scope.rate,
        failNext: scope.queued.length,
      };
    }
    return out;
  }

  private randomFailure(rate: Rate | undefined): Failure | undefined {
    if (rate === undefined || !(this.random() < rate.probability)) return undefined;
    const status =
      rate.statuses.length === 1 ? rate.statuses[0] : rate.statuses[Math.floor(this.random() * rate.statuses.length)];
    return { status: status ?? 500, ...retryAfter(rate) };
  }

  private scope(name: Scope): ScopeFaults {
    let scope = this.scopes.get(name);
    if (scope === undefined) {
      scope = emptyScope();
      this.scopes.set(name, scope);
    }
    return scope;
  }
}

/** Whether global faults apply to the endpoint: the profile update calls (single, bulk, status). */
function isProfileUpdateCall(endpoint: FaultEndpoint): boolean {
  return endpoint !== 'fetch' && endpoint !== 'admin';
}

function activeOutage(scope: ScopeFaults | undefined, now: number): Failure | undefined {
  if (scope === undefined) return undefined;
  if (scope.outage !== undefined) return scope.outage;
  // Ended windows are dropped as calls pass, so a long soak does not accumulate them.
  if (scope.windows.length > 0) scope.windows = scope.windows.filter((w) => w.until > now);
  const window = scope.windows.find((w) => w.from <= now);
  return window === undefined ? undefined : { status: window.status, ...retryAfter(window) };
}

function retryAfter(opts: { retryAfterSeconds?: number }): { retryAfterSeconds?: number } {
  return opts.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: opts.retryAfterSeconds };
}
