import { Queue } from 'bullmq';
import { storeKeys } from '../../src/redis/keys.js';
import { QUEUE_NAMES, bullPrefix } from '../../src/jobs/catalog.js';
import type { RedisClient } from '../../src/redis/connection.js';

const UNFINISHED = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children'] as const;

/**
 * The pipeline's work queues: every queue but the flush scheduler, the dead letters and the
 * landing audit (checks after the fact, delayed by LANDING_AUDIT_DELAY_MS; a value one of them
 * sends again is pending in the store, which the idle check reads).
 */
const NOT_WORK: ReadonlySet<string> = new Set([QUEUE_NAMES.flush, QUEUE_NAMES.deadLetter, QUEUE_NAMES.landingAudit]);

export function openWorkQueues(redis: RedisClient, prefix: string): Queue[] {
  return Object.values(QUEUE_NAMES)
    .filter((name) => !NOT_WORK.has(name))
    .map((name) => new Queue(name, { connection: redis, prefix: bullPrefix(prefix) }));
}

/**
 * What is still unfinished: per work queue the counts of unfinished jobs, per shard the due
 * and leased visitors; only entries above zero. Empty means idle.
 */
export async function pipelineBacklog(
  redis: RedisClient,
  prefix: string,
  queues: readonly Queue[],
  shards = 1,
): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const queue of queues) {
    const counts = await queue.getJobCounts(...UNFINISHED);
    for (const [state, n] of Object.entries(counts)) if (n > 0) out[`${queue.name}.${state}`] = n;
  }
  for (let k = 0; k < shards; k += 1) {
    const keys = storeKeys(prefix, k, shards);
    const [due, leased] = [await redis.zcard(keys.due), await redis.zcard(keys.leases)];
    if (due > 0) out[`shard${k}.due`] = due;
    if (leased > 0) out[`shard${k}.leased`] = leased;
  }
  return out;
}

/**
 * True when no work queue holds an unfinished job and the visitor store has nothing due
 * and nothing in flight. A pending value always has a due entry or an in-flight claim, so
 * this is "everything accepted has been merged and delivered (or dead-lettered)".
 */
export async function isPipelineIdle(
  redis: RedisClient,
  prefix: string,
  queues: readonly Queue[],
  shards = 1,
): Promise<boolean> {
  return Object.keys(await pipelineBacklog(redis, prefix, queues, shards)).length === 0;
}
