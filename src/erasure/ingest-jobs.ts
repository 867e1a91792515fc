import type { Queue } from 'bullmq';
import { rawEventVisitorKey } from '../dlq/visitor-filter.js';
import { parseVisitorKey } from '../events/index.js';
import type { IngestJob } from '../jobs/catalog.js';
import { fromIngestRow } from '../jobs/ingest-rows.js';
import type { RedisClient } from '../redis/connection.js';
import { REPLACE_ATTEMPTS, replaceJobData } from '../jobs/replace-data.js';
import { jobData } from './job-data.js';

const PAGE = 200;

/** Passes over the failed set: a job that moved while a pass read is found by the next. */
const MAX_PASSES = 5;

/**
 * Takes forgotten visitors' events out of failed ingest jobs: the failed set keeps a job until
 * an operator removes it (as the copy of its dead letter, and the only one when that letter
 * could not be written). A job with nothing else goes; the others are rewritten without them,
 * only while they are still failed and unchanged since read (src/jobs/replace-data.ts), else
 * read again. Jobs in other states are left: a waiting or retrying job's merge drops a
 * forgotten visitor's events, and one that fails for good is stripped as it fails
 * (src/map/role.ts). Returns how many jobs were removed and rewritten.
 */
export async function stripFailedIngestJobs(
  queue: Queue<IngestJob>,
  redis: RedisClient,
  vks: ReadonlySet<string>,
  ids?: readonly string[],
): Promise<{ removed: number; edited: number }> {
  const needles = [...vks].map((vk) => JSON.stringify(parseVisitorKey(vk).id));
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
      const outcome = await strip(queue, redis, id, data, vks);
      if (outcome === 'removed') removed += 1;
      else if (outcome === 'edited') edited += 1;
      if (outcome !== 'untouched') changed = true;
    }
    if (!changed && (await redis.zcard(failedSet)) === sizeBefore) break;
  }
  return { removed, edited };
}

/**
 * The job's data without the events of `vks`, in the form it was stored in (rows stay rows,
 * still checked under the same envelope rules), null when nothing else is left, or undefined
 * when it holds none of them. Pure.
 */
export function ingestJobWithout(data: IngestJob, vks: ReadonlySet<string>): IngestJob | null | undefined {
  const names = (event: unknown): boolean => {
    const vk = rawEventVisitorKey(event);
    return vk !== undefined && vks.has(vk);
  };
  // Each stored item kept as it is (a malformed row stays as stored, for its dead letter).
  if (Array.isArray(data.rows)) {
    const rows = data.rows.filter((row) => !names(fromIngestRow(row)));
    if (rows.length === data.rows.length) return undefined;
    return rows.length === 0 ? null : { ...data, rows };
  }
  const events = data.events ?? [];
  const kept = events.filter((e) => !names(e));
  if (kept.length === events.length) return undefined;
  return kept.length === 0 ? null : { ...data, events: kept };
}

async function strip(
  queue: Queue<IngestJob>,
  redis: RedisClient,
  id: string,
  read: string,
  vks: ReadonlySet<string>,
): Promise<'removed' | 'edited' | 'untouched'> {
  const failedSet = queue.keys.failed;
  if (failedSet === undefined) throw new Error('BullMQ queue keys changed: no failed set');
  let data: string | null = read;
  for (let attempt = 0; attempt < REPLACE_ATTEMPTS && data !== null; attempt += 1) {
    const job = parseIngestJob(data);
    if (job === undefined) return 'untouched';
    const rest = ingestJobWithout(job, vks);
    if (rest === undefined) return 'untouched';
    // Nothing else in it: nobody adds events to a job, so no one else can be in it meanwhile.
    // 0: retried and running (locked) now; its merge drops the forgotten visitors' events.
    if (rest === null) return (await queue.remove(id)) === 1 ? 'removed' : 'untouched';
    if (await replaceJobData(redis, queue, id, data, rest, { inFailedSet: true })) return 'edited';
    // Changed meanwhile (another erasure, a retry): read it again, if it is still failed.
    data = (await redis.zscore(failedSet, id)) === null ? null : await redis.hget(queue.toKey(id), 'data');
  }
  if (data === null) return 'untouched';
  throw new Error(`failed ingest job ${id} kept changing while it was rewritten: run forget again`);
}

function parseIngestJob(data: string): IngestJob | undefined {
  try {
    const parsed = JSON.parse(data) as unknown;
    return typeof parsed === 'object' && parsed !== null ? (parsed as IngestJob) : undefined;
  } catch {
    return undefined;
  }
}
