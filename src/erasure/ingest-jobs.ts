import type { Job, Queue } from 'bullmq';
import { rawEventVisitorKey } from '../dlq/visitor-filter.js';
import { parseVisitorKey } from '../events/index.js';
import type { IngestJob } from '../jobs/catalog.js';
import { fromIngestRow, ingestEvents } from '../jobs/ingest-rows.js';
import type { RedisClient } from '../redis/connection.js';
import { jobData } from './job-data.js';

/**
 * States in which an ingest job keeps its events for a long time: failed (kept until an
 * operator removes it, as the copy of its dead letter, and the only one when that letter
 * could not be written) and delayed (waiting out a retry's backoff, up to minutes, and failed
 * for good if Redis keeps failing). Waiting jobs are merged within moments (the merge drops a
 * forgotten visitor's events) and a completed one keeps counts only, so reading every waiting
 * job's events during a flood (hundreds of megabytes) would buy nothing.
 */
const KEPT_STATES = ['failed', 'delayed'] as const;
const PAGE = 200;

/** Passes over the states: a job that moved while a pass read (a retry's backoff ended, it failed) is found by the next. */
const MAX_PASSES = 3;

/**
 * Takes a forgotten visitor's events out of the ingest jobs that keep them (KEPT_STATES): a
 * job with nothing else goes, the others are rewritten without them. A pass lists each
 * state's job ids page by page and reads each job's data field in one pipeline a page,
 * parsing only those whose text holds the visitor's id (as JSON). Passes repeat until one
 * finds nothing (at most MAX_PASSES). An active job is left: its merge drops the visitor's
 * events (it is suppressed). A Redis error is thrown, so the forget reports it.
 */
export async function stripIngestJobs(
  queue: Queue<IngestJob>,
  redis: RedisClient,
  vk: string,
): Promise<{ removed: number; edited: number }> {
  const needle = JSON.stringify(parseVisitorKey(vk).id);
  let removed = 0;
  let edited = 0;
  for (let pass = 0; pass < MAX_PASSES; pass += 1) {
    const found = new Map<string, IngestJob>();
    for await (const [id, data] of jobData(queue, redis, KEPT_STATES, PAGE)) {
      if (!data.includes(needle)) continue;
      const job = parseIngestJob(data);
      if (job !== undefined && ingestEvents(job).some((e) => rawEventVisitorKey(e) === vk)) found.set(id, job);
    }
    if (found.size === 0) break;
    for (const [id, data] of found) {
      const outcome = await strip(queue, id, data, vk);
      if (outcome === 'removed') removed += 1;
      else if (outcome === 'edited') edited += 1;
    }
  }
  return { removed, edited };
}

/**
 * The job's data without the visitor's events, in the form it was stored in (rows stay rows,
 * still checked under the same envelope rules), or null when nothing else is left. Pure.
 */
export function ingestJobWithout(data: IngestJob, vk: string): IngestJob | null {
  // Each stored item kept as it is (a malformed row stays as stored, for its dead letter).
  if (Array.isArray(data.rows)) {
    const rows = data.rows.filter((row) => rawEventVisitorKey(fromIngestRow(row)) !== vk);
    return rows.length === 0 ? null : { ...data, rows };
  }
  const events = (data.events ?? []).filter((e) => rawEventVisitorKey(e) !== vk);
  return events.length === 0 ? null : { ...data, events };
}

async function strip(
  queue: Queue<IngestJob>,
  id: string,
  data: IngestJob,
  vk: string,
): Promise<'removed' | 'edited' | 'gone'> {
  const rest = ingestJobWithout(data, vk);
  // 0: active (locked) now; its merge drops the visitor's events.
  if (rest === null) return (await queue.remove(id)) === 1 ? 'removed' : 'gone';
  const job = (await queue.getJob(id)) as Job<IngestJob> | undefined;
  if (job === undefined) return 'gone';
  try {
    await job.updateData(rest);
  } catch (error) {
    // Removed meanwhile (an operator cleaned the failed set): nothing left to rewrite.
    if ((await queue.getJob(id)) === undefined) return 'gone';
    throw error;
  }
  return 'edited';
}

function parseIngestJob(data: string): IngestJob | undefined {
  try {
    const parsed = JSON.parse(data) as unknown;
    return typeof parsed === 'object' && parsed !== null ? (parsed as IngestJob) : undefined;
  } catch {
    return undefined;
  }
}
