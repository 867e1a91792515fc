import { hashTag } from '../redis/keys.js';
import type { RedisClient } from '../redis/connection.js';

/** What `CallPacer.tryPass` answers. */
export interface PaceState {
  passed: boolean;
  /** When not passed: how long until the next pass opens. */
  retryInMs: number;
}

/**
 * At most one pass per interval across every process of a pipeline: a Redis key set with
 * `NX PX interval` is the gate, so two flushers cannot both pass in the same interval.
 *
 * Used for the small bulk files that a flush of few visitors would start (visitors Target
 * may not know yet, see src/flush/routing.ts). Without it, a trickle of new visitors spends
 * the 50-calls-a-minute bulk budget on files of a few rows each (every file also needs its
 * status polls), until the budget runs dry and every bulk visitor waits for the minute to
 * roll over. With it, those visitors gather for one interval and go in one file.
 */
export class CallPacer {
  private readonly key: string;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
    readonly name: string,
    readonly intervalMs: number,
  ) {
    this.key = `${hashTag(prefix)}:pace:${name}`;
  }

  /** Takes the gate for `intervalMs` (default: the pacer's), or says how long until it opens. */
  async tryPass(intervalMs = this.intervalMs): Promise<PaceState> {
    const set = await this.redis.set(this.key, '1', 'PX', Math.max(1, Math.round(intervalMs)), 'NX');
    if (set === 'OK') return { passed: true, retryInMs: 0 };
    const ttl = await this.redis.pttl(this.key);
    // -2: expired between the two calls; -1 cannot happen (always set with PX).
    return { passed: false, retryInMs: ttl > 0 ? ttl : 1 };
  }

  /** Cuts a closed gate to open within `ms`; a gate that opens sooner, or is open, stays as it is. */
  async shorten(ms: number): Promise<void> {
    await this.redis.pexpire(this.key, Math.max(1, Math.round(ms)), 'LT');
  }

  /** Gives a pass back unused (nothing came of it), so the next one need not wait. */
  async release(): Promise<void> {
    await this.redis.del(this.key);
  }
}

/** What the flusher knows of the bulk budget when it considers another bulk claim. */
export interface BulkLoad {
  /** Bulk calls used in the current budget window (submits and status polls). */
  used: number;
  /** Bulk calls allowed per window (BULK_CALLS_PER_MINUTE). */
  limit: number;
  /** Bulk claims being submitted or polled (each holds up to two batches, one per identity kind). */
  claimsInFlight: number;
  /** Bulk calls are paused after a 503 past the account's shared limit (CallBudget.pause). */
  paused?: boolean;
}

/**
 * Calls spent plus calls already owed: every claim in flight still needs a status poll for
 * each of its batches (up to two). Counting only what was spent let a burst start six
 * claims in seven seconds whose polls then took the rest of the minute's budget, and the
 * 1,000,000-event bench run delivered nothing for 50 s.
 */
export function committedBulkCalls(load: BulkLoad): number {
  return load.used + 2 * load.claimsInFlight;
}

/**
 * Is there room for another bulk claim? Its first file and that file's poll (2 calls) must
 * fit besides what is committed and `reserve` ({@link tailReserveCalls}), with a tenth of the
 * budget kept for polls that find a batch still incomplete and for resubmits.
 */
export function bulkRoom(load: BulkLoad, reserve = 0): boolean {
  return load.paused !== true && committedBulkCalls(load) + 2 + reserve <= usableBulkCalls(load.limit);
}

/** The bulk calls of a window that claims may commit: all but a tenth ({@link bulkRoom}). */
function usableBulkCalls(limit: number): number {
  return limit - Math.floor(limit / 10);
}

/**
 * Bulk calls kept back while visitors are still coming (src/flush/arrivals.ts): those of one
 * claim with a file per identity kind and a status poll each, 4, and never more than half of
 * what is left beside a claim's own 2, so the smallest budgets keep theirs. Without it a
 * flood spent the window's budget on its first, small claims (the map merges a million events
 * over most of a minute, and each claim carries what was merged by then), and the visitors it
 * brought last waited for the window to roll over: in the 1,000,000-event bench run no claim
 * could start from 31.6 s to 76.7 s, while the map merged its last job at 52.5 s.
 */
export function tailReserveCalls(limit: number): number {
  return Math.max(0, Math.min(4, Math.floor((usableBulkCalls(limit) - 2) / 2)));
}

/**
 * How long one pass for a bulk file that is not full closes the gate. While less than half
 * of the budget is committed: a quarter of `intervalMs` (one bulk-call slot by default), so
 * the last visitors of a burst reach Target within the window plus about a second while most
 * of the minute's calls are unused (a quarter, as before, paced the last file of a
 * 100,000-event burst ~8 s with 12 of 50 calls spent). From half on, pacing engages: the
 * calls left are spread over the budget window, `intervalMs` (four slots, the four calls of a
 * claim with two files and their polls) scaled by limit ÷ calls left — 9.6 s with half left,
 * 19.2 s with a quarter — so paced claims slow down as the budget runs short instead of
 * spending it and leaving everything waiting for the window to roll over (the
 * 1,000,000-event bench run delivered nothing for 35 s with a fixed interval). Half is
 * enough: a trickle that spends the first half in a few seconds then takes at most about
 * 22 calls in the rest of the minute at this spread, within the tenth kept back by
 * {@link bulkRoom}. The gate cannot be reopened early, so at most 4 × `intervalMs` (19.2 s
 * by default) and at most `windowMs`.
 */
export function bulkPaceMs(load: BulkLoad, intervalMs: number, windowMs: number): number {
  const committed = committedBulkCalls(load);
  if (!pacingEngaged(load)) return intervalMs / 4;
  const left = Math.max(1, load.limit - committed);
  return Math.min(windowMs, 4 * intervalMs, (intervalMs * load.limit) / left);
}

/** Half of the bulk budget or more is committed: bulk files that are not full are spread out ({@link bulkPaceMs}). */
export function pacingEngaged(load: BulkLoad): boolean {
  return committedBulkCalls(load) >= load.limit / 2;
}

/**
 * Would waiting at the pacer's gate gather nothing? True when no visitor is still in its
 * coalescing window (`inWindow`: pending, not due yet) and no ingest job waits to be merged
 * (`unmerged`). The gate exists so that visitors arriving meanwhile share a file; with none to
 * come, it would only hold the last visitors of a burst back (up to a quarter of the interval,
 * 1.7 s at 35 calls a minute) while most of the budget is unused. Asked only while pacing has
 * not engaged ({@link pacingEngaged}): a trickle of new visitors, each alone in the store,
 * then spends at most about half the budget before the gate applies to it too, which is what
 * the quarter-interval gate let it spend anyway.
 */
export function nothingToGather(inWindow: number, unmerged: number): boolean {
  return inWindow <= 0 && unmerged <= 0;
}
