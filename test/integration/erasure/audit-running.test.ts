import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VisitorStore } from '../../../src/coalesce/store.js';
import { createLandingAuditProcessor, type LandingAuditDeps } from '../../../src/deliver/landing-audit.js';
import { PipelineError } from '../../../src/errors.js';
import { QUEUE_NAMES, type LandingQueueJob } from '../../../src/jobs/catalog.js';
import { createLogger } from '../../../src/logger.js';
import { deletePrefix, newRedis, uniquePrefix } from '../../harness/context.js';

const T0 = Date.parse('2026-11-21T10:00:00.000Z');

/**
 * A landing-audit check is running (its Fetch call on the wire) when its visitor is
 * forgotten: the forget cannot remove it (it is locked), and if the call then fails for good
 * the failed set would keep the visitor's key for days.
 */
describe('a landing-audit check running while its visitor is forgotten', () => {
  let redis: Redis;
  let prefix: string;
  let store: VisitorStore;

  beforeEach(() => {
    redis = newRedis();
    prefix = uniquePrefix('audit-running');
    store = new VisitorStore(redis, {
      prefix,
      coalesceWindowMs: 1000,
      dedupeWindowMs: 60_000,
      deliveredRetentionMs: 3_600_000,
      leaseMs: 60_000,
    });
  });
  afterEach(async () => {
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  async function delivered(id: string): Promise<string> {
    const vk = `3p:${id}`;
    await store.merge(
      'pos',
      [
        {
          id: `${id}-e1`,
          type: 't',
          occurredAtMs: T0,
          visitor: { kind: 'thirdPartyId', id },
          attributes: { tier: 'gold' },
        },
      ],
      T0,
    );
    expect(await store.claimDue(`claim-${id}`, 10, T0 + 1000)).toEqual([vk]);
    const [snapshot] = await store.snapshot(`claim-${id}`, [vk], T0 + 1000);
    if (snapshot === undefined) throw new Error('no snapshot');
    expect(await store.ack(`claim-${id}`, snapshot, T0 + 2000)).toBe('done');
    return vk;
  }

  function check(forgetDuringFetch: boolean, abandoned = false) {
    const processor = createLandingAuditProcessor({
      store,
      client: {
        abandoned,
        fetchProfile: async (visitor: { id: string }) => {
          if (forgetDuringFetch) await store.forget(`3p:${visitor.id}`, Date.now() + 60_000);
          throw new PipelineError('Target refused the request', 'TARGET_HTTP_400', 'permanent');
        },
      },
      hold: { state: () => Promise.resolve(undefined) } as unknown as LandingAuditDeps['hold'],
      logger: createLogger({ level: 'silent', pretty: false }),
      maxResends: 3,
      queue: {} as LandingAuditDeps['queue'],
      fanOut: { horizonMs: 60_000 },
    });
    return (vk: string) =>
      processor(
        {
          id: '1',
          queueName: QUEUE_NAMES.landingAudit,
          attemptsMade: 0,
          data: { vk, sentAt: T0, route: 'single', attributes: {} } as LandingQueueJob,
          moveToDelayed: () => Promise.resolve(),
        } as unknown as Job<LandingQueueJob>,
        'token',
      );
  }

  it('completes with nothing found instead of failing: the failed set would keep its key', async () => {
    const vk = await delivered('CRM-FORGOTTEN');
    await expect(check(true)(vk)).resolves.toEqual({
      match: 0,
      missing: 0,
      different: 0,
      resent: 0,
      check: 'sampled',
    });
  });

  it('is still postponed when the process drops it at shutdown: the job was moved already', async () => {
    const vk = await delivered('CRM-SHUTDOWN');
    await expect(check(true, true)(vk)).rejects.toBeInstanceOf(DelayedError);
  });

  it('still fails for a visitor that was not forgotten', async () => {
    const vk = await delivered('CRM-KEPT');
    await expect(check(false)(vk)).rejects.toBeInstanceOf(UnrecoverableError);
  });
});
