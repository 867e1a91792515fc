import type { Queue } from 'bullmq';
import type { LandingAuditJob, LandingQueueJob, LandingRecheckJob } from '../jobs/catalog.js';
import type { Logger } from '../logger.js';
import { sampleShare } from './landing-compare.js';

export interface LandingAuditSettings {
  /** LANDING_AUDIT_SAMPLE: share of delivered visitors read back (0: off). */
  share: number;
  /** LANDING_AUDIT_DELAY_MS: how long after Target accepted a delivery it is read back. */
  delayMs: number;
  /**
   * The visitor keys among these that were forgotten (VisitorStore.suppressedAmong): their
   * checks are not scheduled, since a job's data names its visitor and a forget that ran
   * while the delivery was finishing would not find a job made after it.
   */
  forgotten?: (vks: readonly string[]) => Promise<ReadonlySet<string>>;
}

/** One visitor's delivery that Target accepted, as the audit needs it (stamps, never values). */
export type AuditedDelivery = LandingAuditJob;

/** Visitors a LandingRecheckJob holds at most (its data is rewritten as it fans them out). */
export const RECHECK_JOB_VISITORS = 10_000;
/**
 * BullMQ priority of a LandingRecheckJob: a due one waits among the prioritized jobs, after
 * the checks (which have none), and the fan-out's count of waiting checks leaves it out.
 */
export const RECHECK_PRIORITY = 10;

/**
 * Picks deliveries to read back, and schedules each check as a BullMQ job delayed by
 * LANDING_AUDIT_DELAY_MS on the `landing-audit` queue (src/deliver/landing-audit.ts runs them).
 * Deliveries call it where Target accepted them: deliver-single after each ack, bulk-status
 * when a batch completes.
 */
export class LandingAudits {
  constructor(
    private readonly queue: Queue<LandingQueueJob>,
    readonly settings: LandingAuditSettings,
    private readonly logger: Logger,
    private readonly random: () => number = Math.random,
  ) {}

  /** The items to audit: each with probability LANDING_AUDIT_SAMPLE (none when it is 0). */
  pick<T>(items: readonly T[]): T[] {
    return sampleShare(items, this.settings.share, this.random);
  }

  /**
   * Schedules the checks, one job each (deliveries without attributes are skipped), each
   * `delayMs` from now (LANDING_AUDIT_DELAY_MS unless given). A failure to schedule is
   * logged, not thrown: the delivery it follows was accepted and is recorded, and failing
   * its job now would only send it again.
   */
  async schedule(deliveries: readonly AuditedDelivery[], delayMs = this.settings.delayMs): Promise<void> {
    let due = deliveries.filter((d) => Object.keys(d.attributes).length > 0);
    if (due.length === 0) return;
    try {
      const forgotten = (await this.settings.forgotten?.(due.map((d) => d.vk))) ?? new Set<string>();
      due = due.filter((d) => !forgotten.has(d.vk));
      if (due.length === 0) return;
      await this.queue.addBulk(due.map((data) => ({ name: `audit ${data.route}`, data, opts: { delay: delayMs } })));
    } catch (error) {
      this.logger.warn(
        { err: error, deliveries: due.length },
        'landing audit: could not schedule the check of delivered visitors (the deliveries stand)',
      );
    }
  }

  /**
   * Schedules strict read-backs of these visitors of one bulk batch, whatever the sample
   * (their untracked copies at Target: src/deliver/untracked-copies.ts), once after each of
   * `delays`: LandingRecheckJobs of up to RECHECK_JOB_VISITORS visitor keys each, which fan
   * out one check per visitor when due (src/deliver/landing-audit.ts). Forgotten visitors are
   * left out. Throws when they cannot be scheduled: P4 rests on them, so the caller retries.
   * Returns how many visitors were scheduled.
   */
  async scheduleRecheck(
    vks: readonly string[],
    check: Pick<LandingRecheckJob, 'sentAt' | 'batchId'>,
    delays: readonly number[],
  ): Promise<number> {
    const forgotten = vks.length === 0 ? new Set<string>() : ((await this.settings.forgotten?.(vks)) ?? new Set());
    const due = vks.filter((vk) => !forgotten.has(vk));
    if (due.length === 0) return 0;
    const jobs: Array<{ name: string; data: LandingRecheckJob; opts: { delay: number; priority: number } }> = [];
    for (const delay of delays)
      for (let i = 0; i < due.length; i += RECHECK_JOB_VISITORS)
        jobs.push({
          name: 'recheck bulk',
          data: {
            recheck: due.slice(i, i + RECHECK_JOB_VISITORS),
            sentAt: check.sentAt,
            route: 'bulk',
            ...(check.batchId !== undefined ? { batchId: check.batchId } : {}),
          },
          opts: { delay, priority: RECHECK_PRIORITY },
        });
    await this.queue.addBulk(jobs);
    return due.length;
  }
}
