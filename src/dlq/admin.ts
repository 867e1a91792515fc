import type { Job, Queue } from 'bullmq';
import type { VisitorStore } from '../coalesce/store.js';
import type { Logger } from '../logger.js';
import type { DeadLetter, IngestJob } from '../jobs/catalog.js';
import { matchesFilter, type DeadLetterFilter } from './filters.js';

/** A dead letter as operators see it: its id and entry. */
export interface DeadLetterView extends DeadLetter {
  id: string;
  createdAt: number;
}

export interface BulkActionResult {
  matched: number;
  /** Entries replayed or purged (0 on a dry run). */
  done: number;
  ids: string[];
}

const PAGE = 500;

/**
 * Operator actions on the dead-letter queue, shared by the CLI and /admin/dead-letters.
 * Entries are waiting jobs of a queue no worker takes, so bull-board shows them as they are.
 * Replay puts events back on the ingest queue (the merge's dedupe still applies) and visitor
 * updates back into the visitor store with their original event stamps, so last-write-wins
 * and no-overtaking hold for replayed values too (P3/P4). An entry is removed only after it
 * was put back.
 */
export class DeadLetterAdmin {
  constructor(
    private readonly queues: { deadLetter: Queue<DeadLetter>; ingest: Queue<IngestJob> },
    private readonly store: VisitorStore,
    private readonly logger: Logger,
  ) {}

  /** Matching entries, newest first. */
  async list(
    filter: DeadLetterFilter,
    page: { offset?: number; limit?: number } = {},
  ): Promise<{ total: number; entries: DeadLetterView[] }> {
    const offset = page.offset ?? 0;
    const limit = page.limit ?? 100;
    const entries: DeadLetterView[] = [];
    let total = 0;
    await this.scan(filter, (job) => {
      if (total >= offset && entries.length < limit) entries.push(view(job));
      total += 1;
    });
    return { total, entries };
  }

  async show(id: string): Promise<DeadLetterView | undefined> {
    const job = await this.queues.deadLetter.getJob(id);
    return job === undefined ? undefined : view(job);
  }

  /** Puts matching entries back on the normal path, then removes them. */
  async replay(filter: DeadLetterFilter, options: { dryRun?: boolean } = {}): Promise<BulkActionResult> {
    const jobs: Array<Job<DeadLetter>> = [];
    await this.scan(filter, (job) => jobs.push(job));
    const result: BulkActionResult = { matched: jobs.length, done: 0, ids: jobs.map((j) => j.id ?? '') };
    if (options.dryRun === true) return result;
    for (const job of jobs) {
      const entry = job.data;
      if (entry.events !== undefined && entry.events.length > 0) {
        await this.queues.ingest.add('events', {
          source: entry.source ?? 'replay',
          receivedAt: Date.now(),
          events: entry.events,
        });
      }
      for (const visitor of entry.visitors ?? []) await this.store.restore(visitor.vk, visitor.attributes);
      await job.remove();
      result.done += 1;
    }
    this.logger.info({ matched: result.matched, replayed: result.done, filter }, 'dead letters replayed');
    return result;
  }

  /** Deletes matching entries for good. */
  async purge(filter: DeadLetterFilter, options: { dryRun?: boolean } = {}): Promise<BulkActionResult> {
    const jobs: Array<Job<DeadLetter>> = [];
    await this.scan(filter, (job) => jobs.push(job));
    const result: BulkActionResult = { matched: jobs.length, done: 0, ids: jobs.map((j) => j.id ?? '') };
    if (options.dryRun === true) return result;
    for (const job of jobs) {
      await job.remove();
      result.done += 1;
    }
    this.logger.warn({ matched: result.matched, purged: result.done, filter }, 'dead letters purged');
    return result;
  }

  /**
   * Keeps the queue within `maxCount` entries and `maxAgeMs` of age, oldest first. Returns
   * how many were removed; the caller logs and counts it (trimming is never silent).
   */
  async trim(maxCount: number, maxAgeMs: number, now = Date.now()): Promise<number> {
    const queue = this.queues.deadLetter;
    let removed = 0;
    const excess = Math.max(0, (await queue.getWaitingCount()) - maxCount);
    // asc = true reads from the oldest end of the waiting list.
    for (const job of excess > 0 ? await queue.getJobs(['waiting'], 0, excess - 1, true) : []) {
      await job.remove();
      removed += 1;
    }
    for (;;) {
      const oldest = await queue.getJobs(['waiting'], 0, PAGE - 1, true);
      const expired = oldest.filter((j) => now - j.timestamp > maxAgeMs);
      for (const job of expired) await job.remove();
      removed += expired.length;
      if (expired.length < PAGE) break;
    }
    return removed;
  }

  /** Visits matching entries, newest first. */
  private async scan(filter: DeadLetterFilter, visit: (job: Job<DeadLetter>) => void): Promise<void> {
    const total = await this.queues.deadLetter.getWaitingCount();
    for (let start = 0; start < total; start += PAGE) {
      for (const job of await this.queues.deadLetter.getJobs(['waiting'], start, start + PAGE - 1, false)) {
        if (matchesFilter(job.data, filter)) visit(job);
      }
    }
  }
}

function view(job: Job<DeadLetter>): DeadLetterView {
  return { id: job.id ?? '', createdAt: job.timestamp, ...job.data };
}
