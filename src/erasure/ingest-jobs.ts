import type { Queue } from 'bullmq';
import { rawEventVisitorKey } from '../dlq/visitor-filter.js';
import { parseVisitorKey } from '../events/index.js';
import type { IngestJob } from '../jobs/catalog.js';
import { fromIngestRow } from '../jobs/ingest-rows.js';
import type { RedisClient } from '../redis/connection.js';
import { stripFailedJobs } from './failed-jobs.js';

/**
 * Takes forgotten visitors' events out of failed ingest jobs: the failed set keeps a job until
 * an operator removes it (as the copy of its dead letter, and the only one when that letter
 * could not be written). A job with nothing else goes; the others are rewritten without them
 * (src/erasure/failed-jobs.ts). Jobs in other states are left: a waiting or retrying job's
 * merge drops a forgotten visitor's events, and one that fails for good is stripped as it
 * fails (src/map/role.ts). Returns how many jobs were removed and rewritten.
 */
export function stripFailedIngestJobs(
  queue: Queue<IngestJob>,
  redis: RedisClient,
  vks: ReadonlySet<string>,
  ids?: readonly string[],
): Promise<{ removed: number; edited: number }> {
  // Raw events name the visitor by its id, not its key.
  const needles = [...vks].map((vk) => JSON.stringify(parseVisitorKey(vk).id));
  return stripFailedJobs(queue, redis, needles, (job) => ingestJobWithout(job, vks), ids);
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
