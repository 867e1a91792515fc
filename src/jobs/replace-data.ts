import type { Queue } from 'bullmq';
import type { RedisClient } from '../redis/connection.js';
import { loadLua } from '../redis/lua-source.js';

/**
 * How many times an erasure reads and rewrites one entry that others keep changing meanwhile:
 * each round one of them gets through, so this bounds the erasures running at once.
 */
export const REPLACE_ATTEMPTS = 50;

/** See the file's header. */
const REPLACE_JOB_DATA = loadLua(new URL('./lua/replace-job-data.lua', import.meta.url));

/**
 * Writes `next` as job `id`'s data only if its stored data is still `read` (BullMQ's JSON text)
 * and, with `inFailedSet`, the job is still failed; false otherwise (read it again). BullMQ's
 * own `updateData` overwrites whatever is there, so two erasures editing one entry at once
 * would each write back what the other took out.
 */
export async function replaceJobData(
  redis: RedisClient,
  queue: Queue,
  id: string,
  read: string,
  next: unknown,
  options: { inFailedSet?: boolean } = {},
): Promise<boolean> {
  const keys = [queue.toKey(id)];
  if (options.inFailedSet === true) {
    const failed = queue.keys.failed;
    if (failed === undefined) throw new Error('BullMQ queue keys changed: no failed set');
    keys.push(failed);
  }
  const replaced = await redis.eval(REPLACE_JOB_DATA, keys.length, ...keys, id, read, JSON.stringify(next));
  return replaced === 1;
}
