import { storeKeys } from '../keys.js';
import type { RedisClient } from '../redis.js';
import { markerBucket, markerExpiresAt, markerField, markerGeneration } from './markers.js';
import { groupByShard } from './shards.js';

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
 * the merge script reads it), so reads and writes go out in one pipeline per shard: a
 * cluster pipeline must not mix slots.
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

  /** The refs of one shard by marker bucket, each with its field and input position. */
  private byBucket(source: string, group: ReadonlyArray<{ item: MarkRef; index: number }>): Map<number, Array<{ field: string; index: number }>> {
    const out = new Map<number, Array<{ field: string; index: number }>>();
    for (const { item, index } of group) {
      const bucket = markerBucket(source, item.id);
      const list = out.get(bucket) ?? [];
      list.push({ field: markerField(source, item.id), index });
      out.set(bucket, list);
    }
    return out;
  }

  /** Which of these ids were already taken in (or applied) for this source. */
  async alreadySeen(source: string, refs: readonly MarkRef[], now = Date.now()): Promise<boolean[]> {
    if (refs.length === 0) return [];
    const out = new Array<boolean>(refs.length).fill(false);
    const generation = markerGeneration(now, this.windowMs);
    await Promise.all([...groupByShard(refs, (r) => r.vk, this.shards.length)].map(async ([shard, group]) => {
      const keys = this.keysOf(shard);
      const buckets = [...this.byBucket(source, group)];
      const pipeline = this.redis.pipeline();
      for (const [bucket, entries] of buckets) {
        const fields = entries.map((e) => e.field);
        pipeline.hmget(keys.seen(generation, bucket), ...fields);
        pipeline.hmget(keys.seen(generation - 1, bucket), ...fields);
      }
      const replies = (await pipeline.exec()) ?? [];
      buckets.forEach(([, entries], b) => {
        const [current, previous] = [replies[2 * b], replies[2 * b + 1]].map((reply) => {
          if (reply === undefined || reply[0] !== null) throw reply?.[0] ?? new Error('marker lookup got no reply');
          return reply[1] as Array<string | null>;
        });
        entries.forEach((e, i) => { out[e.index] = (current?.[i] ?? null) !== null || (previous?.[i] ?? null) !== null; });
      });
    }));
    return out;
  }

  /** Marks ids as taken in; never downgrades an `a` marker the merge already wrote. */
  async markTaken(source: string, refs: readonly MarkRef[], now = Date.now()): Promise<void> {
    if (refs.length === 0) return;
    const generation = markerGeneration(now, this.windowMs);
    await Promise.all([...groupByShard(refs, (r) => r.vk, this.shards.length)].map(async ([shard, group]) => {
      const keys = this.keysOf(shard);
      const pipeline = this.redis.pipeline();
      for (const [bucket, entries] of this.byBucket(source, group)) {
        const key = keys.seen(generation, bucket);
        for (const { field } of entries) pipeline.hsetnx(key, field, 't');
        // Relative to this process's clock, as the merge script does it.
        pipeline.pexpire(key, markerExpiresAt(generation, bucket, this.windowMs) - now);
      }
      const replies = await pipeline.exec();
      const failed = replies?.find(([error]) => error !== null);
      if (failed?.[0] != null) throw failed[0];
    }));
  }
}
