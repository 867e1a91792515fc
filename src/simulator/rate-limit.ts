/** Calls "other users" of the account make at an even pace (see {@link RollingWindowLimit}). */
export interface BackgroundLoad {
  /** Calls per window, spread evenly over it. */
  callsPerWindow: number;
  /** When the first interval starts (epoch ms); the first call falls one interval later. */
  from: number;
  /** When the calls stop (epoch ms, excluded); undefined = until cleared. */
  until?: number;
}

/**
 * A rolling-window call limit: at most `limit` admitted calls in any `windowMs`, judged by
 * the clock `now`. Refused calls do not count, so a client that backs off gets in again
 * once the window moves.
 *
 * Background load: when `load()` returns one, calls of other users of the same account are
 * charged against the same window, one every `windowMs / callsPerWindow` ms, lazily up to
 * the current time before each admission (a charge the window has no room for is refused,
 * like any call past the limit). So a pipeline sees 503 earlier, as it would when another
 * team's Admin or Reporting scripts run.
 */
export class RollingWindowLimit {
  private readonly admitted: number[] = [];
  private chargedUntil = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
    private readonly load: () => BackgroundLoad | undefined = () => undefined,
    private readonly onBackgroundCall: () => void = () => undefined,
  ) {}

  /** Admits (and counts) one call, or returns false when the window is full. */
  tryAdmit(): boolean {
    const now = this.now();
    this.chargeBackground(now);
    this.expire(now);
    if (this.admitted.length >= this.limit) return false;
    this.admitted.push(now);
    return true;
  }

  /** Milliseconds until the next call would be admitted (0 when it would be now). */
  msUntilFree(): number {
    const now = this.now();
    this.chargeBackground(now);
    const live = this.admitted.filter((t) => t > now - this.windowMs);
    if (live.length < this.limit) return 0;
    const oldest = live[live.length - this.limit] ?? now;
    return Math.ceil(oldest + this.windowMs - now);
  }

  private expire(at: number): void {
    while (this.admitted.length > 0 && (this.admitted[0] ?? at) <= at - this.windowMs) this.admitted.shift();
  }

  private chargeBackground(now: number): void {
    const load = this.load();
    const after = Math.max(this.chargedUntil, now - this.windowMs);
    this.chargedUntil = Math.max(this.chargedUntil, now);
    if (load === undefined || !(load.callsPerWindow > 0)) return;
    const interval = this.windowMs / load.callsPerWindow;
    const until = load.until ?? Number.POSITIVE_INFINITY;
    // Calls fall at from + k * interval (k >= 1); charge those in (after, now] before `until`.
    for (let k = Math.max(1, Math.floor((after - load.from) / interval) + 1); ; k += 1) {
      const at = load.from + k * interval;
      if (at > now || at >= until) break;
      if (at <= after) continue;
      this.expire(at);
      if (this.admitted.length < this.limit) {
        this.admitted.push(at);
        this.onBackgroundCall();
      }
    }
  }
}
