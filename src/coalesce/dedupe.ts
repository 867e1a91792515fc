import { storeKeys } from '../keys.js';
import type { RedisClient } from '../redis.js';
import { groupByShard } from './shards.js';

/** One event id to look up, with the visitor key that decides its shard. */
export interface MarkRef {
  id: string;
  vk: string;
}

/**
 * Intake's view of the per-source event-id markers. Intake marks an id `t` (taken in) after
 * its job is stored; the merge script marks it `a` (applied) in the same atomic step as the
 * merge, and only `a` makes the merge skip an event. So intake can tell a producer
 * "duplicate" for a resend, while the effect is still decided once, atomically (P2).
 * A marker lives in the shard of its event's visitor (where the merge script reads it), so
 * reads and writes go out once per shard: a cluster MGET or pipeline must not mix slots.
 */
export class IntakeMarks {
  private readonly shards: ReadonlyArray<ReturnType<typeof storeKeys>>;

  constructor(private readonly redis: RedisClient, prefix: string, private readonly windowMs: number, shards = 1) {
    this.shards = Array.from({ length: shards }, (_, k) => storeKeys(prefix, k, shards));
  }

  private keysOf(shard: number): ReturnType<typeof storeKeys> {
    const keys = this.shards[shard];
    if (keys === undefined) throw new Error(`no shard ${shard}`);
    return keys;
  }

  /** Which of these ids were already taken in (or applied) for this source. */
  async alreadySeen(source: string, refs: readonly MarkRef[]): Promise<boolean[]> {
    if (refs.length === 0) return [];
    const out = new Array<boolean>(refs.length).fill(false);
    await Promise.all([...groupByShard(refs, (r) => r.vk, this.shards.length)].map(async ([shard, group]) => {
      const keys = this.keysOf(shard);
      const values = await this.redis.mget(...group.map((g) => keys.seen(source, g.item.id)));
      group.forEach((g, i) => { out[g.index] = values[i] !== null && values[i] !== undefined; });
    }));
    return out;
  }

  /** Marks ids as taken in; never downgrades an `a` marker the merge already wrote. */
  async markTaken(source: string, refs: readonly MarkRef[]): Promise<void> {
    if (refs.length === 0) return;
    await Promise.all([...groupByShard(refs, (r) => r.vk, this.shards.length)].map(async ([shard, group]) => {
      const keys = this.keysOf(shard);
      const pipeline = this.redis.pipeline();
      for (const { item } of group) pipeline.set(keys.seen(source, item.id), 't', 'PX', this.windowMs, 'NX');
      const replies = await pipeline.exec();
      const failed = replies?.find(([error]) => error !== null);
      if (failed?.[0] != null) throw failed[0];
    }));
  }
}
