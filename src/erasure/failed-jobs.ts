import type { Queue } from 'bullmq';
import { editJobData } from '../jobs/replace-data.js';
import type { RedisClient } from '../redis/connection.js';
import { jobData } from './job-data.js';

const PAGE = 200;

/** Passes over the failed set: a job that moved while a pass read is found by the next. */
const MAX_PASSES = 5;

/**
 * Takes forgotten visitors out of a queue's failed jobs (`ids`: only these): a job whose data
 * holds one of `needles` (as BullMQ stores it, JSON) is parsed and passed to `without`, which
 * answers its data without them, null when nothing else is left (the job goes), or undefined
 * when it holds none of them. A rewrite applies only while the job is still failed and its
 * data unchanged since read (src/jobs/replace-data.ts), else it is read again. Returns how
 * many jobs were removed and rewritten.
 */
export async function stripFailedJobs<T>(
  queue: Queue<T>,
  redis: RedisClient,
  needles: readonly string[],
  without: (data: T) => T | null | undefined,
  ids?: readonly string[],
): Promise<{ removed: number; edited: number }> {
  const concerns = (data: string): boolean => needles.some((needle) => data.includes(needle));
  let removed = 0;
  let edited = 0;
  const failedSet = queue.keys.failed;
  if (failedSet === undefined) throw new Error('BullMQ queue keys changed: no failed set');
  for (let pass = 0; pass < (ids === undefined ? MAX_PASSES : 1); pass += 1) {
    // The set is read by position: jobs leaving it meanwhile (other forgets, an operator)
    // shift later ones into pages already read, so a pass during which it changed is repeated.
    const sizeBefore = await redis.zcard(failedSet);
    const found = new Map<string, string>();
    if (ids === undefined) {
      for await (const [id, data] of jobData(queue, redis, ['failed'], PAGE)) if (concerns(data)) found.set(id, data);
    } else {
      for (const id of ids) {
        const data = await redis.hget(queue.toKey(id), 'data');
        if (data !== null && concerns(data)) found.set(id, data);
      }
    }
    let changed = false;
    for (const [id, data] of found) {
      const outcome = await editJobData(redis, queue, id, data, without, { inFailedSet: true });
      if (outcome === 'removed') removed += 1;
      else if (outcome === 'edited') edited += 1;
      if (outcome === 'removed' || outcome === 'edited') changed = true;
    }
    if (!changed && (await redis.zcard(failedSet)) === sizeBefore) break;
  }
  return { removed, edited };
}
