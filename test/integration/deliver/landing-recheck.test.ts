import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LandingAudits } from '../../../src/audit/landing-schedule.js';
import { createLandingAuditProcessor, FAN_OUT_PAGE } from '../../../src/deliver/landing-audit.js';
import type { LandingAuditDeps } from '../../../src/deliver/landing-audit.js';
import { QUEUE_NAMES, bullPrefix, type LandingQueueJob } from '../../../src/jobs/catalog.js';
import { openQueue, type PipelineQueues } from '../../../src/jobs/queues.js';
import { createLogger } from '../../../src/logger.js';
import { deletePrefix, newRedis, uniquePrefix } from '../../harness/context.js';
import { waitFor } from '../../harness/pipeline.js';

/**
 * A LandingRecheckJob (the read-backs of many visitors after a lost bulk answer) fans out one
 * strict check per visitor, a page at a time, every visitor once, and skips the places of
 * forgotten ones.
 */
describe('a recheck of many visitors', () => {
  let redis: Redis;
  let prefix: string;
  let queue: PipelineQueues['landingAudit'];
  let worker: Worker<LandingQueueJob> | undefined;

  beforeEach(() => {
    redis = newRedis();
    prefix = uniquePrefix('recheck');
    queue = openQueue('landingAudit', redis, { redisPrefix: prefix, keepCompleted: false });
  });
  afterEach(async () => {
    await worker?.close();
    worker = undefined;
    await queue.close();
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  it('fans out one strict check of every delivered attribute per visitor, a page at a time, skipping forgotten places', async () => {
    const logger = createLogger({ level: 'silent', pretty: false });
    const audits = new LandingAudits(queue, { share: 0, delayMs: 0 }, logger);
    const vks = Array.from({ length: 2 * FAN_OUT_PAGE + 7 }, (_, n) => `3p:CRM-${n}`);
    // Forgotten after scheduling: its place is an empty key (src/erasure/audit-jobs.ts).
    const listed = vks.map((vk, n) => (n === 3 ? '' : vk));
    await queue.add('recheck bulk', { recheck: listed, sentAt: 1, route: 'bulk', batchId: 'b-1' });
    expect(await audits.scheduleRecheck([], { sentAt: 1 }, [0])).toBe(0);

    // Each check reads what was delivered to its visitor: nothing here, so it ends there.
    const checked: Array<{ vk: string; strict: boolean; attributes: number; id: string }> = [];
    const processor = createLandingAuditProcessor({
      store: { readDelivered: () => Promise.resolve(new Map()) } as unknown as LandingAuditDeps['store'],
      client: {} as LandingAuditDeps['client'],
      hold: { state: () => Promise.resolve(undefined) } as unknown as LandingAuditDeps['hold'],
      logger,
      maxResends: 3,
      queue,
    });
    worker = new Worker<LandingQueueJob>(
      QUEUE_NAMES.landingAudit,
      async (job, token) => {
        if ('vk' in job.data)
          checked.push({
            vk: job.data.vk,
            strict: job.data.afterLostAnswer === true,
            attributes: Object.keys(job.data.attributes).length,
            id: job.id ?? '',
          });
        return processor(job, token);
      },
      { connection: redis.duplicate(), prefix: bullPrefix(prefix), concurrency: 4 },
    );
    expect(await waitFor(() => checked.length === vks.length - 1, 20_000)).toBe(true);
    expect(checked.map((c) => c.vk).sort()).toEqual(vks.filter((_, n) => n !== 3).sort());
    expect(checked.every((c) => c.strict && c.attributes === 0)).toBe(true);
    // Job ids number the places, so a page added again after a crash adds nothing twice.
    expect(new Set(checked.map((c) => c.id)).size).toBe(checked.length);
    expect(await waitFor(async () => (await queue.getJobCounts('delayed', 'waiting', 'active')).active === 0)).toBe(
      true,
    );
    const left = await queue.getJobCounts('delayed', 'waiting', 'active');
    expect(left).toEqual({ delayed: 0, waiting: 0, active: 0 });
  });
});
