import { Queue } from 'bullmq';
import { storeKeys } from '../../src/keys.js';
import { QUEUE_NAMES, bullPrefix } from '../../src/queues.js';
import type { RedisClient } from '../../src/redis.js';

const UNFINISHED = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children'] as const;

/** The pipeline's work queues: every queue but the flush scheduler and the dead letters. */
export function openWorkQueues(redis: RedisClient, prefix: string): Queue[] {
  return Object.values(QUEUE_NAMES)
    .filter((name) => name !== QUEUE_NAMES.flush && name !== QUEUE_NAMES.deadLetter)
    .map((name) => new Queue(name, { connection: redis, prefix: bullPrefix(prefix) }));
}

/**
 * True when no work queue holds an unfinished job and the visitor store has nothing due
 * and nothing in flight. A pending value always has a due entry or an in-flight claim, so
 * this is "everything accepted has been merged and delivered (or dead-lettered)".
 */
export async function isPipelineIdle(redis: RedisClient, prefix: string, queues: readonly Queue[], shards = 1): Promise<boolean> {
  for (const queue of queues) {
    const counts = await queue.getJobCounts(...UNFINISHED);
    if (Object.values(counts).some((n) => n > 0)) return false;
  }
  for (let k = 0; k < shards; k += 1) {
    const keys = storeKeys(prefix, k, shards);
    if ((await redis.zcard(keys.due)) !== 0 || (await redis.zcard(keys.leases)) !== 0) return false;
  }
  return true;
}
