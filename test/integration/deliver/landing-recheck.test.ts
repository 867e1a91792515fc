import { DelayedError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LandingAudits, RECHECK_JOB_VISITORS, RECHECK_PRIORITY } from '../../../src/audit/landing-schedule.js';
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
    const vks = Array.from({ length: 2 * FAN_OUT_PAGE + 7 }, (_, n) => `3p:CRM-${n}`);
    // Forgotten after scheduling: its place is an empty key (src/erasure/audit-jobs.ts).
    const listed = vks.map((vk, n) => (n === 3 ? '' : vk));
    await queue.add('recheck bulk', { recheck: listed, sentAt: 1, route: 'bulk', batchId: 'b-1' });

    // Each check reads what was delivered to its visitor: nothing here, so it ends there.
    const checked: Array<{ vk: string; strict: boolean; attributes: number; id: string }> = [];
    const processor = createLandingAuditProcessor({
      store: { readDelivered: () => Promise.resolve(new Map()) } as unknown as LandingAuditDeps['store'],
      client: {} as LandingAuditDeps['client'],
      hold: { state: () => Promise.resolve(undefined) } as unknown as LandingAuditDeps['hold'],
      logger,
      maxResends: 3,
      queue,
      fanOut: { horizonMs: 60_000 },
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

  it('adds no check while as many are queued as it allows, or while Target refuses our credentials', async () => {
    const added: string[][] = [];
    let queued = 0;
    let held = false;
    const queue = {
      addBulk: (jobs: Array<{ data: LandingQueueJob }>) => {
        added.push(jobs.map((j) => ('vk' in j.data ? j.data.vk : '?')));
        return Promise.resolve([]);
      },
      // The recheck itself is the one active job.
      getJobCounts: () => Promise.resolve({ waiting: queued, active: 1 }),
      // 40 due within the horizon, all of them in the next FAN_OUT_WAIT_MS (postponed
      // rechecks, not checks): not counted.
      getDelayedCount: () => Promise.resolve(40),
    } as unknown as LandingAuditDeps['queue'];
    const processor = createLandingAuditProcessor({
      store: {} as LandingAuditDeps['store'],
      client: {} as LandingAuditDeps['client'],
      hold: {
        state: () => Promise.resolve(held ? { status: 401 } : undefined),
        retryInMs: () => 1000,
      } as unknown as LandingAuditDeps['hold'],
      logger: createLogger({ level: 'silent', pretty: false }),
      maxResends: 3,
      queue,
      fanOut: { page: 2, maxQueued: 3, horizonMs: 60_000 },
    });
    const postponed: number[] = [];
    const job = {
      id: '7',
      queueName: QUEUE_NAMES.landingAudit,
      attemptsMade: 0,
      data: { recheck: ['3p:a', '3p:b', '3p:c'], sentAt: 1, route: 'bulk' } as LandingQueueJob,
      updateData(data: LandingQueueJob) {
        this.data = data;
        return Promise.resolve();
      },
      moveToDelayed(at: number) {
        postponed.push(at);
        return Promise.resolve();
      },
    };
    const run = () => processor(job as unknown as Job<LandingQueueJob>, 'token');
    queued = 3;
    await expect(run()).rejects.toBeInstanceOf(DelayedError);
    queued = 0;
    held = true;
    await expect(run()).rejects.toBeInstanceOf(DelayedError);
    expect(added).toEqual([]);
    held = false;
    // A page, then the job waits its turn with the rest.
    await expect(run()).rejects.toBeInstanceOf(DelayedError);
    expect(added).toEqual([['3p:a', '3p:b']]);
    expect(job.data).toMatchObject({ recheck: ['3p:c'], offset: 2 });
    await expect(run()).resolves.toMatchObject({ match: 0, missing: 0, different: 0, resent: 0 });
    expect(added).toEqual([['3p:a', '3p:b'], ['3p:c']]);
    expect(postponed).toHaveLength(3);
  });

  it('are scheduled as jobs of at most 10,000 visitors each, once per delay, leaving forgotten visitors out', async () => {
    const audits = new LandingAudits(
      queue,
      { share: 0, delayMs: 0, forgotten: (vks) => Promise.resolve(new Set(vks.filter((vk) => vk === '3p:gone'))) },
      createLogger({ level: 'silent', pretty: false }),
    );
    const vks = Array.from({ length: RECHECK_JOB_VISITORS + 1 }, (_, n) => `3p:CRM-${n}`);
    expect(await audits.scheduleRecheck([...vks, '3p:gone'], { sentAt: 5, batchId: 'b-9' }, [1000, 90_000])).toBe(
      vks.length,
    );
    const jobs = await queue.getDelayed();
    // Due rechecks wait behind the checks, out of the fan-out's count of waiting checks.
    expect(jobs.every((j) => j.opts.priority === RECHECK_PRIORITY)).toBe(true);
    const shapes = jobs
      .map((j) => ('recheck' in j.data ? [j.data.recheck.length, j.opts.delay, j.data.batchId] : []))
      .sort((a, b) => Number(a[1]) - Number(b[1]) || Number(a[0]) - Number(b[0]));
    expect(shapes).toEqual([
      [1, 1000, 'b-9'],
      [RECHECK_JOB_VISITORS, 1000, 'b-9'],
      [1, 90_000, 'b-9'],
      [RECHECK_JOB_VISITORS, 90_000, 'b-9'],
    ]);
    expect(await audits.scheduleRecheck(['3p:gone'], { sentAt: 5 }, [1000])).toBe(0);
  });
});
