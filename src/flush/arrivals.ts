/**
 * Are visitors still coming? The flusher keeps the last claim's bulk calls back while a
 * flood is still being merged, so the visitors it brings last do not wait for the budget
 * window to roll over (see tailReserveCalls in src/quota/pacer.ts). It cannot read that from
 * the due index: visitors handed back for lack of bulk budget wait there too, not yet due,
 * and a flood would never look over.
 *
 * What it reads instead: ingest jobs not merged yet, and the merge's count of applied events
 * (the store's `events_applied`). Either moving counts as activity at the moment it is seen,
 * which is never earlier than it happened, so the watch errs towards "still coming". Visitors
 * merged at the last activity become due one coalescing window later, so the flood counts as
 * over one window after the last activity seen.
 *
 * A new watch knows nothing yet: its first reading only sets the baseline of the count, so a
 * flusher that starts in a quiet pipeline holds nothing back. The watch reads only when bulk
 * work is due, so a lone visitor of a trickle is first seen at its due time and looks like a
 * flood of its own: only a flood seen for at least a window has a tail ({@link inTail}).
 */
export interface Arrivals {
  /** Ingest jobs waiting or being merged (not those waiting out a retry's backoff). */
  unmerged: number;
  /** The merge's running count of applied events, over all shards. */
  applied: number;
}

export class ArrivalWatch {
  private lastActivityAt = Number.NEGATIVE_INFINITY;
  private lastApplied: number | undefined;
  /** The first activity after a quiet spell: the flood the watch is in, or was in last. */
  private floodStartedAt = Number.NEGATIVE_INFINITY;
  /** When the calls kept back for the last claim last held a claim back. */
  private heldBackAt = Number.NEGATIVE_INFINITY;
  /** When a claim last went past the pacer's gate as a flood's last ({@link takeTail}). */
  private tailTakenAt = Number.NEGATIVE_INFINITY;

  /**
   * `windowMs`: COALESCE_WINDOW_MS. `tailSpanMs`: how long a flood's tail lasts after its
   * last claim (the bulk budget's window): its deliveries in flight end within it at a
   * simulator's pace; at Target's (minutes to hours) what they hold comes due later and is
   * paced as usual.
   */
  constructor(
    private readonly windowMs: number,
    private readonly tailSpanMs: number,
  ) {}

  /** Takes in one reading, made at `now`. */
  observe(now: number, arrivals: Arrivals): void {
    const moved = this.lastApplied !== undefined && arrivals.applied !== this.lastApplied;
    this.lastApplied = arrivals.applied;
    if (arrivals.unmerged > 0 || moved) {
      if (!this.stillComing(now)) this.floodStartedAt = now;
      this.lastActivityAt = Math.max(this.lastActivityAt, now);
    }
  }

  /**
   * The calls kept for the last claim held a bulk claim back at `now` (a flusher's tick
   * keeps one `now` for all its claims, so a reading made later in it may already have
   * started the flood: counted in that flood).
   */
  heldBack(now: number): void {
    this.heldBackAt = Math.max(now, this.floodStartedAt);
  }

  /**
   * The flood is over, it was seen for at least a window, the calls kept for its last claim
   * held a claim back during it, and nothing new has come since: what is left are its last
   * visitors, and those held behind its deliveries in flight, which come due as those end.
   * Until `tailSpanMs` after its last claim.
   */
  inTail(now: number): boolean {
    return (
      !this.stillComing(now) &&
      this.lastActivityAt - this.floodStartedAt >= this.windowMs &&
      this.heldBackAt > Number.NEGATIVE_INFINITY &&
      this.heldBackAt >= this.floodStartedAt &&
      (this.tailTakenAt < this.floodStartedAt || now < this.tailTakenAt + this.tailSpanMs)
    );
  }

  /**
   * The flood's last claim may go now, without waiting at the pacer's gate (which would only
   * hold its visitors back while the calls kept for them are unused). Once per flood: the
   * visitors that come due after it (held behind a delivery in flight) come in small groups
   * as deliveries end, and each going at once spent a claim's calls on a few hundred rows
   * (seven claims in 1.5 s in a 1,000,000-event bench run, then no room for the last).
   */
  tailGoes(now: number): boolean {
    return this.inTail(now) && this.tailTakenAt < this.floodStartedAt;
  }

  /** The flood's last claim went past the gate ({@link tailGoes}). */
  takeTail(now: number): void {
    this.tailTakenAt = now;
  }

  /** Visitors may still come within a window of `now`. */
  stillComing(now: number): boolean {
    return now < this.quietAt();
  }

  /** When the flood counts as over, if nothing more is seen: the last activity plus a window. */
  quietAt(): number {
    return this.lastActivityAt + this.windowMs;
  }
}
