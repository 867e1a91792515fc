import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LandingAudits } from '../../../src/audit/landing-schedule.js';
import { removeAuditJobs } from '../../../src/erasure/audit-jobs.js';
import type { LandingAuditJob, LandingQueueJob } from '../../../src/jobs/catalog.js';
import { openQueue, type PipelineQueues } from '../../../src/jobs/queues.js';
import { createLogger } from '../../../src/logger.js';
import { deletePrefix, newRedis, uniquePrefix } from '../../harness/context.js';

const FORGOTTEN = '3p:CRM-FORGET';
const KEPT = '3p:CRM-KEEP';
const HOUR = 3_600_000;

/** The visitor a check names (none for a LandingRecheckJob). */
const vkOf = (data: LandingQueueJob): string | undefined => ('vk' in data ? data.vk : undefined);

function audit(vk: string, n = 0): LandingAuditJob {
  return {
    vk,
    sentAt: 1_796_000_000_000 + n,
    route: 'bulk',
    batchId: `acme-1796000000000-${n}`,
    attributes: { tier: 'x' },
  };
}

describe("a forgotten visitor's landing-audit checks", () => {
  let redis: Redis;
  let prefix: string;
  let queue: PipelineQueues['landingAudit'];

  beforeEach(() => {
    redis = newRedis();
    prefix = uniquePrefix('audit-forget');
    queue = openQueue('landingAudit', redis, { redisPrefix: prefix, keepCompleted: false });
  });
  afterEach(async () => {
    await queue.close();
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  it('are removed in every state they wait in, past the first page, and no one else is', async () => {
    // 1,500 delayed checks of another visitor around 3 of the forgotten one's: two pages.
    await queue.addBulk(
      Array.from({ length: 1500 }, (_, n) => ({ name: 'audit bulk', data: audit(KEPT, n), opts: { delay: HOUR } })),
    );
    await queue.add('audit bulk', audit(FORGOTTEN, 1), { delay: HOUR });
    await queue.add('audit bulk', audit(FORGOTTEN, 2), { delay: HOUR });
    await queue.addBulk(
      Array.from({ length: 600 }, (_, n) => ({
        name: 'audit bulk',
        data: audit(KEPT, 2000 + n),
        opts: { delay: HOUR },
      })),
    );
    await queue.add('audit bulk', audit(FORGOTTEN, 3)); // waiting
    // A visitor whose key starts like the forgotten one's stays.
    await queue.add('audit bulk', audit(`${FORGOTTEN}2`, 5), { delay: HOUR });
    const failed = await queue.add('audit bulk', audit(FORGOTTEN, 4), { delay: HOUR });
    // Failed, as BullMQ keeps a job that spent its attempts: its id in the queue's failed set.
    const { delayed: delayedKey, failed: failedKey } = queue.keys;
    if (delayedKey === undefined || failedKey === undefined) throw new Error('BullMQ queue keys changed');
    await redis.zrem(delayedKey, String(failed.id));
    await redis.zadd(failedKey, Date.now(), String(failed.id));

    expect(await removeAuditJobs(queue, redis, FORGOTTEN)).toBe(4);
    const left = await queue.getJobs(['delayed', 'waiting', 'failed'], 0, -1);
    expect(left).toHaveLength(2101);
    expect(left.filter((job) => vkOf(job.data) !== KEPT).map((job) => vkOf(job.data))).toEqual([`${FORGOTTEN}2`]);
    expect(await removeAuditJobs(queue, redis, FORGOTTEN)).toBe(0);
  });

  it('are not scheduled for a visitor forgotten while its delivery was finishing', async () => {
    const audits = new LandingAudits(
      queue,
      { share: 1, delayMs: HOUR, forgotten: (vks) => Promise.resolve(new Set(vks.filter((vk) => vk === FORGOTTEN))) },
      createLogger({ level: 'silent', pretty: false }),
    );
    await audits.schedule([audit(FORGOTTEN), audit(KEPT)]);
    const jobs = await queue.getJobs(['delayed'], 0, -1);
    expect(jobs.map((job) => vkOf(job.data))).toEqual([KEPT]);
  });

  it('leave the read-backs of many visitors after a lost bulk answer without the forgotten one, keeping every other visitor in its place', async () => {
    const audits = new LandingAudits(
      queue,
      { share: 0, delayMs: HOUR },
      createLogger({ level: 'silent', pretty: false }),
    );
    const others = Array.from({ length: 5 }, (_, n) => `${KEPT}-${n}`);
    await audits.scheduleRecheck([others[0] ?? '', FORGOTTEN, ...others.slice(1)], { sentAt: 1, batchId: 'b-1' }, [
      HOUR,
      25 * HOUR,
    ]);
    // A recheck of the forgotten visitor alone goes whole.
    await audits.scheduleRecheck([FORGOTTEN], { sentAt: 1 }, [HOUR]);
    expect(await removeAuditJobs(queue, redis, FORGOTTEN)).toBe(3);
    const left = await queue.getJobs(['delayed'], 0, -1);
    expect(left.map((job) => ('recheck' in job.data ? job.data.recheck : []))).toEqual([
      [others[0], '', ...others.slice(1)],
      [others[0], '', ...others.slice(1)],
    ]);
    expect(JSON.stringify(left.map((job) => job.data))).not.toContain(FORGOTTEN);
    expect(await removeAuditJobs(queue, redis, FORGOTTEN)).toBe(0);
  });

  it('lose none of several visitors forgotten at once from one list of read-backs', async () => {
    const audits = new LandingAudits(
      queue,
      { share: 0, delayMs: HOUR },
      createLogger({ level: 'silent', pretty: false }),
    );
    const gone = Array.from({ length: 8 }, (_, n) => `${FORGOTTEN}-${n}`);
    await audits.scheduleRecheck([...gone, KEPT], { sentAt: 1, batchId: 'b-2' }, [HOUR]);
    expect(await Promise.all(gone.map((vk) => removeAuditJobs(queue, redis, vk)))).toEqual(gone.map(() => 1));
    const left = await queue.getJobs(['delayed'], 0, -1);
    expect(left.map((job) => ('recheck' in job.data ? job.data.recheck : []))).toEqual([[...gone.map(() => ''), KEPT]]);
  });
});
