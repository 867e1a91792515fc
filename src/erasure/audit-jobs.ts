import type { Queue } from 'bullmq';
import type { LandingAuditJob, LandingQueueJob, LandingRecheckJob } from '../jobs/catalog.js';
import type { RedisClient } from '../redis/connection.js';
import { editJobData } from '../jobs/replace-data.js';
import { jobData } from './job-data.js';

/**
 * States a landing-audit job waits in: delayed (LANDING_AUDIT_DELAY_MS, an hour by default),
 * waiting or prioritized to run (a paused queue's jobs are waiting too), failed (kept
 * FAILED_JOB_RETENTION_S). An active one is left: it is being run, finds the visitor
 * forgotten (nothing delivered to read back) and is removed when done (removeOnComplete).
 */
const KEPT_STATES = ['delayed', 'waiting', 'prioritized', 'failed'] as const;
const PAGE = 1000;

/** Passes over the queue: a job that moved while a pass read (promoted, retried) is found by the next. */
const MAX_PASSES = 3;

/**
 * Removes the landing-audit jobs that name a forgotten visitor (their data holds its visitor
 * key): otherwise its id would stay in Redis until the audit ran, or for days as a failed job.
 * A pass lists every state's job ids page by page and reads each job's data field in one
 * pipeline a page, matching the visitor key as BullMQ stored it (JSON) before parsing the few
 * that match: building BullMQ Job objects for every check took a forget 2.8 s with 40,000
 * checks scheduled (0.7 s of it in Redis); reading the data field, 0.7 s (0.18 s). Removals come after a pass; jobs leave and enter the lists
 * meanwhile (delayed jobs are promoted, failed ones age out), which can shift a page past a
 * job, so passes repeat until one finds nothing (at most MAX_PASSES). An active job is locked
 * and stays: it finds the visitor forgotten, nothing delivered to read back, and completes
 * (removeOnComplete). A LandingRecheckJob (many visitors' read-backs after a lost bulk
 * answer) that lists the visitor is rewritten without it. A Redis error is thrown, so the
 * forget reports it. Returns how many checks were removed.
 */
export async function removeAuditJobs(queue: Queue<LandingQueueJob>, redis: RedisClient, vk: string): Promise<number> {
  const needle = `"vk":${JSON.stringify(vk)}`;
  const listed = JSON.stringify(vk);
  let removed = 0;
  const kept = async (): Promise<number> =>
    Object.values(await queue.getJobCounts(...KEPT_STATES)).reduce((a, b) => a + b, 0);
  for (let pass = 0; pass < MAX_PASSES; pass += 1) {
    // Lists are read by position: a pass during which jobs left them (others' forgets, checks
    // that ran) may have skipped one, so it is repeated.
    const before = await kept();
    const ids = new Set<string>();
    const rechecks = new Map<string, LandingRecheckJob>();
    for await (const [id, data] of jobData(queue, redis, KEPT_STATES, PAGE)) {
      if (data.includes(needle) && namesVisitor(data, vk)) ids.add(id);
      else if (data.includes(listed)) {
        const recheck = recheckNaming(data, vk);
        if (recheck !== undefined) rechecks.set(id, recheck);
      }
    }
    if (ids.size === 0 && rechecks.size === 0 && (await kept()) === before) break;
    // 0 for a job that is active (locked) now.
    for (const id of ids) removed += await queue.remove(id);
    for (const id of rechecks.keys()) removed += await dropFromRecheck(queue, redis, id, vk);
  }
  return removed;
}

/**
 * Takes the visitor out of a LandingRecheckJob's list. Its place stays (an empty key, which
 * the fan-out skips): the checks' job ids are positions in the list, and a shift could make a
 * page added again after a crash skip another visitor's check. A list left with no visitor
 * goes. An active recheck may write its own copy back: it then fans out a check for the
 * forgotten visitor, which finds nothing delivered to read back.
 */
async function dropFromRecheck(
  queue: Queue<LandingQueueJob>,
  redis: RedisClient,
  id: string,
  vk: string,
): Promise<number> {
  // Only as read: a forget of another visitor in the same list at once would otherwise write
  // this one back (src/jobs/replace-data.ts). Gone meanwhile: it fanned out its last page.
  const outcome = await editJobData(redis, queue, id, null, (data) => {
    if (!('recheck' in data) || !data.recheck.includes(vk)) return undefined;
    const recheck = data.recheck.map((key) => (key === vk ? '' : key));
    return recheck.every((key) => key === '') ? null : { ...data, recheck };
  });
  return outcome === 'edited' || outcome === 'removed' ? 1 : 0;
}

function recheckNaming(data: string, vk: string): LandingRecheckJob | undefined {
  try {
    const parsed = JSON.parse(data) as Partial<LandingRecheckJob>;
    return Array.isArray(parsed.recheck) && parsed.recheck.includes(vk) ? (parsed as LandingRecheckJob) : undefined;
  } catch {
    return undefined;
  }
}

function namesVisitor(data: string, vk: string): boolean {
  try {
    return (JSON.parse(data) as Partial<LandingAuditJob>).vk === vk;
  } catch {
    return false;
  }
}
