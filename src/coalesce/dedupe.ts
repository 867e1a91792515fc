import { storeKeys } from '../redis/keys.js';
import type { RedisClient } from '../redis/connection.js';
import { markerBucket, markerExpiresAt, markerField, markerGeneration } from './markers.js';
import { groupByShard } from '../redis/shards.js';
import { withStoreCommands, type StoreCommands } from './store-scripts.js';

/** One event id to look up, with the visitor key that decides its shard. */
export interface MarkRef {
  id: string;
  vk: string;
}

/**
 * Intake's view of the per-source event-id markers (layout: src/coalesce/markers.ts).
 * Intake marks an id `t` (taken in) after its job is stored; the merge script marks it `a`
 * (applied) in the same atomic step as the merge, and only `a` makes the merge skip an
 * event. So intake can tell a producer "duplicate" for a resend, while the effect is still
 * decided once, atomically (P2). A marker lives in the shard of its event's visitor (where
 * the merge script reads it); each lookup and each marking is one script call per shard
 * (the ids of a batch fall in hundreds of buckets: one command per bucket cost intake a
 * third of its rate).
 */
export class IntakeMarks {
  private readonly redis: RedisClient & StoreCommands;
  private readonly shards: ReadonlyArray<ReturnType<typeof storeKeys>>;

  constructor(
    redis: RedisClient,
    prefix: string,
    private readonly windowMs: number,
    shards = 1,
  ) {
    this.redis = withStoreCommands(redis);
    this.shards = Array.from({ length: shards }, (_, k) => storeKeys(prefix, k, shards));
  }

  private keysOf(shard: number): ReturnType<typeof storeKeys> {
    const keys = this.shards[shard];
    if (keys === undefined) throw new Error(`no shard ${shard}`);
    return keys;
  }

  /** Which of these ids were already taken in (or applied) for this source. */
  async alreadySeen(source: string, refs: readonly MarkRef[], now = Date.now()): Promise<boolean[]> {
    if (refs.length === 0) return [];
    const out = new Array<boolean>(refs.length).fill(false);
    const generation = markerGeneration(now, this.windowMs);
    await Promise.all(
      [...groupByShard(refs, (r) => r.vk, this.shards.length)].map(async ([shard, group]) => {
        const keys = this.keysOf(shard);
        const args = [keys.due, keys.root, String(generation)];
        for (const { item } of group) args.push(String(markerBucket(source, item.id)), markerField(source, item.id));
        const seen = await this.redis.tiMarksSeen(...args);
        group.forEach((g, i) => {
          out[g.index] = seen[i] === 1;
        });
      }),
    );
    return out;
  }

  /** Marks ids as taken in; never downgrades an `a` marker the merge already wrote. */
  async markTaken(source: string, refs: readonly MarkRef[], now = Date.now()): Promise<void> {
    if (refs.length === 0) return;
    const generation = markerGeneration(now, this.windowMs);
    await Promise.all(
      [...groupByShard(refs, (r) => r.vk, this.shards.length)].map(async ([shard, group]) => {
        const keys = this.keysOf(shard);
        const args = [keys.due, keys.root, String(generation)];
        for (const { item } of group) {
          const bucket = markerBucket(source, item.id);
          // A TTL relative to this process's clock, as the merge gives it.
          args.push(
            String(bucket),
            markerField(source, item.id),
            String(markerExpiresAt(generation, bucket, this.windowMs) - now),
          );
        }
        await this.redis.tiMarksTake(...args);
      }),
    );
  }
}
