import type { Redis } from 'ioredis';
import { storeKeys } from '../keys.js';

/**
 * Intake's view of the per-source event-id markers. Intake marks an id `t` (taken in) after
 * its job is stored; the merge script marks it `a` (applied) in the same atomic step as the
 * merge, and only `a` makes the merge skip an event. So intake can tell a producer
 * "duplicate" for a resend, while the effect is still decided once, atomically (P2).
 */
export class IntakeMarks {
  private readonly keys: ReturnType<typeof storeKeys>;

  constructor(private readonly redis: Redis, prefix: string, private readonly windowMs: number) {
    this.keys = storeKeys(prefix);
  }

  /** Which of these ids were already taken in (or applied) for this source. */
  async alreadySeen(source: string, ids: readonly string[]): Promise<boolean[]> {
    if (ids.length === 0) return [];
    const values = await this.redis.mget(...ids.map((id) => this.keys.seen(source, id)));
    return values.map((v) => v !== null);
  }

  /** Marks ids as taken in; never downgrades an `a` marker the merge already wrote. */
  async markTaken(source: string, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.set(this.keys.seen(source, id), 't', 'PX', this.windowMs, 'NX');
    const replies = await pipeline.exec();
    const failed = replies?.find(([error]) => error !== null);
    if (failed?.[0] != null) throw failed[0];
  }
}
