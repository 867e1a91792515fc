import type { Queue } from 'bullmq';
import type { LandingAuditJob } from '../jobs/catalog.js';

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
 * A pass reads every state page by page and removes what it found after reading; jobs leave
 * and enter the lists meanwhile (delayed jobs are promoted, failed ones age out), which can
 * shift a page past a job, so passes repeat until one finds nothing (at most MAX_PASSES). An
 * active job is locked and stays: it finds the visitor forgotten, nothing delivered to read
 * back, and completes (removeOnComplete). A Redis error is thrown, so the forget reports it.
 * Returns how many were removed.
 */
export async function removeAuditJobs(queue: Queue<LandingAuditJob>, vk: string): Promise<number> {
  let removed = 0;
  for (let pass = 0; pass < MAX_PASSES; pass += 1) {
    const ids = new Set<string>();
    for (const state of KEPT_STATES) {
      for (let start = 0; ; start += PAGE) {
        const jobs = await queue.getJobs([state], start, start + PAGE - 1, true);
        for (const job of jobs) if (job?.data?.vk === vk && job.id !== undefined) ids.add(job.id);
        // A page can come back short when jobs left between listing and reading: only an
        // empty one ends the state.
        if (jobs.length === 0) break;
      }
    }
    if (ids.size === 0) break;
    // 0 for a job that is active (locked) now.
    for (const id of ids) removed += await queue.remove(id);
  }
  return removed;
}
