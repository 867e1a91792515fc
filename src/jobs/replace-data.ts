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

/** What {@link editJobData} did to one job. */
export type JobEdit = 'edited' | 'removed' | 'untouched' | 'gone';

/**
 * Rewrites job `id`'s data through `edit` (undefined: leave it, null: remove the job, else
 * the new data), applying it only to the data as read (see {@link replaceJobData}): when the
 * job changed meanwhile it is read again and edited anew, up to REPLACE_ATTEMPTS times.
 * `read`: the stored text already in hand (BullMQ's JSON), or null to read it here. `gone`:
 * the job left meanwhile (removed, or no longer failed with `inFailedSet`). A removal is not
 * conditional: callers remove only a job that held nothing but what they take out, which no
 * other edit adds to. Throws when the job kept changing, so the caller's erasure says so.
 */
export async function editJobData<T>(
  redis: RedisClient,
  queue: Queue<T>,
  id: string,
  read: string | null,
  edit: (data: T) => T | null | undefined,
  options: { inFailedSet?: boolean } = {},
): Promise<JobEdit> {
  const reread = async (): Promise<string | null> => {
    const failed = queue.keys.failed;
    if (options.inFailedSet === true && failed !== undefined && (await redis.zscore(failed, id)) === null) return null;
    return redis.hget(queue.toKey(id), 'data');
  };
  let data = read ?? (await reread());
  for (let attempt = 0; attempt < REPLACE_ATTEMPTS; attempt += 1) {
    if (data === null) return 'gone';
    const parsed = parseObject<T>(data);
    if (parsed === undefined) return 'untouched';
    const next = edit(parsed);
    if (next === undefined) return 'untouched';
    // 0: locked (a retried job running now) or already gone.
    if (next === null) return (await queue.remove(id)) === 1 ? 'removed' : 'untouched';
    if (await replaceJobData(redis, queue, id, data, next, options)) return 'edited';
    data = await reread();
  }
  if (data === null) return 'gone';
  throw new Error(`job ${id} of ${queue.name} kept changing while it was rewritten: run forget again`);
}

function parseObject<T>(data: string): T | undefined {
  try {
    const parsed = JSON.parse(data) as unknown;
    return typeof parsed === 'object' && parsed !== null ? (parsed as T) : undefined;
  } catch {
    return undefined;
  }
}
