import type { RedisClient } from '../redis/connection.js';
import { hashTag } from '../redis/keys.js';

/** The bounds of the first batch-status poll's delay (config: BULK_STATUS_*). */
export interface FirstPollBounds {
  /** Before any batch was seen (BULK_STATUS_POLL_MS). */
  initialMs: number;
  /** Never sooner than this (BULK_STATUS_MIN_POLL_MS, or BULK_STATUS_POLL_MS if that is smaller). */
  minMs: number;
  /** Never later than this, however slow recent batches were (BULK_STATUS_FIRST_POLL_MAX_MS). */
  maxMs: number;
}

/** How one batch went: the first poll's delay it had, incomplete answers before `complete`, time to `complete`. */
export interface BatchTiming {
  firstPollMs: number;
  incompletePolls: number;
  elapsedMs: number;
  /**
   * When the poll schedule meant to read it again after its last incomplete answer (ms since
   * submit). A credentials hold or the spent bulk budget can put the read that says
   * `complete` much later, and the batch may have been done at any time after that answer.
   * The estimate takes the planned read if it is earlier, the soonest the schedule could have
   * read `complete`: a first poll that comes too soon costs the next batch one call, one that
   * comes too late makes every following batch wait as long as the hold lasted.
   */
  plannedMs?: number;
}

/**
 * The next first-poll delay after a batch completed. Every poll costs one of the minute's
 * bulk calls, shared with the account's other users, so the estimate moves only on what a
 * batch showed:
 * - `complete` at the first poll: the batch took at most that long, maybe much less, so
 *   halve it (a fast Target, or the simulator, is reached in a few batches);
 * - `complete` later: it took about the time it took; use that, so the next batch of the
 *   same size is read `complete` at its first poll instead of after a series of polls. Time
 *   the read was put off beyond its schedule (a hold, a spent budget) is not Target's: a
 *   10-minute hold would otherwise make every following batch wait 10 minutes for its
 *   first poll.
 * Against real Target (minutes to hours) this settles at minutes, against the simulator
 * at the floor. The halving alternates with one extra poll when batches take a steady
 * time, which costs one call in a few batches, not a poll every few seconds.
 */
export function nextFirstPollMs(timing: BatchTiming, bounds: FirstPollBounds): number {
  const raw =
    timing.incompletePolls === 0 ? timing.firstPollMs / 2 : Math.min(timing.elapsedMs, timing.plannedMs ?? Infinity);
  return Math.round(Math.min(bounds.maxMs, Math.max(bounds.minMs, raw)));
}

/**
 * When the status job's schedule reads a batch again after an incomplete answer at
 * `answeredAfterMs` (ms since submit), its `incompletePolls`-th: the delay doubles from the
 * batch's first-poll delay `baseMs` up to `maxDelayMs` (src/deliver/bulk-status.ts; jitter
 * only shortens it). An upper bound for {@link BatchTiming.plannedMs}.
 */
export function plannedReadMs(
  answeredAfterMs: number,
  incompletePolls: number,
  baseMs: number,
  maxDelayMs: number,
): number {
  return answeredAfterMs + Math.min(maxDelayMs, baseMs * 2 ** incompletePolls);
}

/** How long a learnt estimate is kept without a batch completing (a week). */
const ESTIMATE_TTL_MS = 7 * 24 * 3600_000;

/**
 * The first-poll delay shared by every deliver process through Redis (one key): read at each
 * bulk submit, written when a batch is read `complete`. Last writer wins: two batches that
 * completed together carry the same information.
 */
export class FirstPollEstimate {
  private readonly key: string;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
    readonly bounds: FirstPollBounds,
  ) {
    this.key = `${hashTag(prefix)}:bulk:first-poll-ms`;
  }

  /** The delay for the first status poll of a batch submitted now. */
  async current(): Promise<number> {
    const stored = Number(await this.redis.get(this.key));
    if (!Number.isFinite(stored) || stored <= 0) return this.bounds.initialMs;
    return Math.min(this.bounds.maxMs, Math.max(this.bounds.minMs, stored));
  }

  /** Learns from a batch read `complete`; returns the new estimate. */
  async record(timing: BatchTiming): Promise<number> {
    const next = nextFirstPollMs(timing, this.bounds);
    await this.redis.set(this.key, String(next), 'PX', ESTIMATE_TTL_MS);
    return next;
  }
}
