/**
 * A rolling-window call limit: at most `limit` admitted calls in any `windowMs`. Refused
 * calls do not count, so a client that backs off gets in again once the window moves.
 */
export class RollingWindowLimit {
  private readonly admitted: number[] = [];

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Admits (and counts) one call, or returns false when the window is full. */
  tryAdmit(): boolean {
    const now = this.now();
    while (this.admitted.length > 0 && (this.admitted[0] ?? now) <= now - this.windowMs) this.admitted.shift();
    if (this.admitted.length >= this.limit) return false;
    this.admitted.push(now);
    return true;
  }

  /** Milliseconds until the next call would be admitted (0 when it would be now). */
  msUntilFree(): number {
    const now = this.now();
    const live = this.admitted.filter((t) => t > now - this.windowMs);
    if (live.length < this.limit) return 0;
    const oldest = live[live.length - this.limit] ?? now;
    return oldest + this.windowMs - now;
  }
}
