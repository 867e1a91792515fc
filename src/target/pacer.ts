import { hashTag } from '../keys.js';
import type { RedisClient } from '../redis.js';

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
 * may not know yet, see src/target/routing.ts). Without it, a trickle of new visitors spends
 * the 50-calls-a-minute bulk budget on files of a few rows each (every file also needs its
 * status polls), until the budget runs dry and every bulk visitor waits for the minute to
 * roll over. With it, those visitors gather for one interval and go in one file.
 */
export class CallPacer {
  private readonly key: string;

  constructor(private readonly redis: RedisClient, prefix: string, readonly name: string, readonly intervalMs: number) {
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

  /** Gives a pass back unused (nothing came of it), so the next one need not wait. */
  async release(): Promise<void> {
    await this.redis.del(this.key);
  }
}

/**
 * How long one pass for a bulk file that is not full closes the gate, given the bulk calls
 * used in the current budget window: a quarter of `intervalMs` (one bulk-call slot by
 * default) while less than a quarter of the budget is used, so the last visitors of a burst
 * wait about a second instead of up to five when calls are plentiful; the whole interval
 * beyond that, so a steady trickle of small files still cannot spend the budget.
 */
export function bulkPaceMs(used: number, limit: number, intervalMs: number): number {
  return used < limit / 4 ? intervalMs / 4 : intervalMs;
}
