import type { Queue } from 'bullmq';
import type { LandingAuditJob } from '../jobs/catalog.js';

/**
 * States a landing-audit job waits in: delayed (LANDING_AUDIT_DELAY_MS, an hour by default),
 * waiting to run (a paused queue's jobs are waiting), failed (kept FAILED_JOB_RETENTION_S). An active one is left: it is
 * being run, finds the visitor forgotten (nothing delivered to read back) and is removed when
 * done (removeOnComplete).
 */
const KEPT_STATES = ['delayed', 'waiting', 'prioritized', 'failed'] as const;
const PAGE = 1000;

/**
 * Removes the landing-audit jobs that name a forgotten visitor (their data holds its visitor
 * key): otherwise its id would stay in Redis until the audit ran, or for days as a failed job.
 * Reads every page first and removes after, so removals do not shift the pages being read.
 * Returns how many were removed.
 */
export async function removeAuditJobs(queue: Queue<LandingAuditJob>, vk: string): Promise<number> {
  const ids: string[] = [];
  for (const state of KEPT_STATES) {
    for (let start = 0; ; start += PAGE) {
      const jobs = await queue.getJobs([state], start, start + PAGE - 1, true);
      for (const job of jobs) if (job?.data?.vk === vk && job.id !== undefined) ids.push(job.id);
      if (jobs.length < PAGE) break;
    }
  }
  let removed = 0;
  for (const id of new Set(ids)) {
    // 0: it moved on (ran, or was removed) meanwhile; an active job is locked and stays.
    removed += await queue.remove(id).catch(() => 0);
  }
  return removed;
}
