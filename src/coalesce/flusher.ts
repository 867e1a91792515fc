import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { Logger } from '../logger.js';
import type { DeliverJob } from '../queues.js';
import type { VisitorStore } from './store.js';

export interface FlusherDeps {
  store: VisitorStore;
  deliverQueue: Queue<DeliverJob>;
  /** Visitors per claim (and per delivery job). */
  batchSize: number;
  /** Most claims one flush makes, so one tick cannot run for ever under a flood. */
  maxClaimsPerFlush?: number;
  logger: Logger;
}

export interface FlushResult {
  claimed: number;
  jobs: number;
  reissued: number;
}

/** Job states in which a claim's delivery job will still run. */
const LIVE_STATES = new Set(['active', 'waiting', 'delayed', 'prioritized', 'waiting-children']);

/**
 * Claims due visitors and creates their delivery jobs. The job id is the claim id, so the
 * job that owns a claim can always be found; a claim whose lease runs out without a live job
 * (its flusher died between claim and job creation) is moved to a new claim and job (P7).
 */
export class Flusher {
  constructor(private readonly deps: FlusherDeps) {}

  async flushOnce(now = Date.now()): Promise<FlushResult> {
    const reissued = await this.sweepExpiredLeases(now);
    const maxClaims = this.deps.maxClaimsPerFlush ?? 50;
    let claimed = 0;
    let jobs = 0;
    for (let i = 0; i < maxClaims; i += 1) {
      const claimId = randomUUID();
      const visitors = await this.deps.store.claimDue(claimId, this.deps.batchSize, now);
      if (visitors.length === 0) break;
      await this.deps.deliverQueue.add('deliver', { claimId, visitors }, { jobId: claimId });
      claimed += visitors.length;
      jobs += 1;
      if (visitors.length < this.deps.batchSize) break;
    }
    if (claimed > 0 || reissued > 0) this.deps.logger.debug({ claimed, jobs, reissued }, 'flushed');
    return { claimed, jobs, reissued };
  }

  /** Renews leases of claims whose job is alive; moves the others to a new claim and job. */
  private async sweepExpiredLeases(now: number): Promise<number> {
    const expired = await this.deps.store.expiredLeases(1000, now);
    if (expired.length === 0) return 0;
    const byClaim = new Map<string, string[]>();
    for (const { vk, claimId } of expired) byClaim.set(claimId, [...(byClaim.get(claimId) ?? []), vk]);
    let reissued = 0;
    for (const [oldClaim, vks] of byClaim) {
      const job = oldClaim === '' ? undefined : await this.deps.deliverQueue.getJob(oldClaim);
      const state = job === undefined ? 'unknown' : await job.getState();
      const alive = LIVE_STATES.has(state);
      const newClaim = alive ? oldClaim : randomUUID();
      const moved: string[] = [];
      for (const vk of vks) {
        if (await this.deps.store.renewLease(vk, oldClaim, newClaim, now)) moved.push(vk);
      }
      if (!alive && moved.length > 0) {
        await this.deps.deliverQueue.add('deliver', { claimId: newClaim, visitors: moved }, { jobId: newClaim });
        reissued += moved.length;
        this.deps.logger.warn({ oldClaim, newClaim, visitors: moved.length, state }, 'claim lease expired without a live delivery job: reissued');
      }
    }
    return reissued;
  }
}
