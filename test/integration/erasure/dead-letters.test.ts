import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VisitorStore } from '../../../src/coalesce/store.js';
import { DeadLetterAdmin } from '../../../src/dlq/admin.js';
import { DeadLetters } from '../../../src/dlq/writer.js';
import { withoutVisitors } from '../../../src/dlq/visitor-filter.js';
import { forgetVisitor } from '../../../src/erasure/forget.js';
import type { DeadLetter } from '../../../src/jobs/catalog.js';
import { openQueue, type PipelineQueues } from '../../../src/jobs/queues.js';
import { createLogger } from '../../../src/logger.js';
import { deletePrefix, newRedis, uniquePrefix } from '../../harness/context.js';

describe('forgetting visitors whose events share a dead letter', () => {
  let redis: Redis;
  let prefix: string;
  let queues: Pick<PipelineQueues, 'deadLetter' | 'ingest'>;

  beforeEach(() => {
    redis = newRedis();
    prefix = uniquePrefix('dlq-forget');
    const settings = { redisPrefix: prefix, keepCompleted: false };
    queues = { deadLetter: openQueue('deadLetter', redis, settings), ingest: openQueue('ingest', redis, settings) };
  });
  afterEach(async () => {
    await queues.deadLetter.close();
    await queues.ingest.close();
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  it('loses none of their removals when the forgets run at once', async () => {
    const gone = Array.from({ length: 8 }, (_, n) => `CRM-GONE-${n}`);
    const event = (visitor: string, n: number) => ({
      id: `e-${n}`,
      type: 'loyalty_card_used',
      occurredAt: '2026-11-21T10:00:00Z',
      visitor: { mbox3rdPartyId: visitor },
      data: { storeId: `S${n}` },
    });
    const letter: DeadLetter = {
      stage: 'map',
      source: 'pos',
      events: [...gone.map((v, n) => event(v, n)), event('CRM-KEEP', 99)],
      error: { class: 'Error', code: 'MAP_FAILED', message: 'redis went away' },
      attempts: 20,
      firstAttemptAt: 1,
      lastAttemptAt: 1,
    };
    const job = await queues.deadLetter.add('map', letter);
    const admin = new DeadLetterAdmin(queues, {} as VisitorStore, createLogger({ level: 'silent', pretty: false }));
    const results = await Promise.all(
      gone.map((v) => admin.rewrite((entry) => withoutVisitors(entry, new Set([`3p:${v}`])), redis)),
    );
    expect(results.reduce((n, r) => n + r.edited, 0)).toBe(gone.length);
    expect((await queues.deadLetter.getJob(String(job.id)))?.data.events).toEqual([event('CRM-KEEP', 99)]);
  });

  it('keeps a visitor forgotten while a new entry is being checked for forgotten ones out of it', async () => {
    const letter: DeadLetter = {
      stage: 'deliver-single',
      source: 'pos',
      visitors: ['3p:A', '3p:B', '3p:K'].map((vk) => ({ vk, attributes: { tier: { value: 'gold', stamp: '1|x' } } })),
      error: { class: 'Error', code: 'TARGET_HTTP_400', message: 'rejected' },
      attempts: 1,
      firstAttemptAt: 1,
      lastAttemptAt: 1,
    };
    const admin = new DeadLetterAdmin(queues, {} as VisitorStore, createLogger({ level: 'silent', pretty: false }));
    // B was forgotten before; A is forgotten while the writer asks which of them are.
    const writer = new DeadLetters(queues.deadLetter, undefined, {
      redis,
      suppressed: async () => {
        await admin.rewrite((entry) => withoutVisitors(entry, new Set(['3p:A'])), redis);
        return new Set(['3p:B']);
      },
    });
    await writer.add(letter, 'late-letter');
    const written = await queues.deadLetter.getJob('late-letter');
    expect(written?.data.visitors?.map((v) => v.vk)).toEqual(['3p:K']);
  });

  it('a forget whose dead-letter step fails still clears the failed ingest jobs, and says it failed', async () => {
    const store = new VisitorStore(redis, {
      prefix,
      coalesceWindowMs: 1000,
      dedupeWindowMs: 60_000,
      deliveredRetentionMs: 60_000,
      leaseMs: 60_000,
    });
    const settings = { redisPrefix: prefix, keepCompleted: false };
    const landingAudit = openQueue('landingAudit', redis, settings);
    const delivery = {
      deliverSingle: openQueue('deliverSingle', redis, settings),
      deliverBulk: openQueue('deliverBulk', redis, settings),
      bulkStatus: openQueue('bulkStatus', redis, settings),
    };
    try {
      const raw = (visitor: string) => ({
        id: `e-${visitor}`,
        type: 'loyalty_card_used',
        occurredAt: '2026-11-21T10:00:00Z',
        visitor: { mbox3rdPartyId: visitor },
      });
      const job = await queues.ingest.add(
        'events',
        { source: 'pos', receivedAt: 1, events: [raw('CRM-A'), raw('CRM-K')] },
        { delay: 3_600_000 },
      );
      const { delayed, failed } = queues.ingest.keys;
      if (delayed === undefined || failed === undefined) throw new Error('BullMQ queue keys changed');
      await redis.zrem(delayed, String(job.id));
      await redis.zadd(failed, Date.now(), String(job.id));
      const forget = forgetVisitor(
        {
          store,
          deadLetters: {
            rewrite: () => Promise.reject(new Error('dead letters unreachable')),
          } as unknown as DeadLetterAdmin,
          landingAudits: { queue: landingAudit, redis },
          ingest: queues.ingest,
          delivery,
          logger: createLogger({ level: 'silent', pretty: false }),
          suppressForMs: 60_000,
        },
        { kind: 'thirdPartyId', id: 'CRM-A' },
      );
      await expect(forget).rejects.toThrow('dead letters unreachable');
      expect((await queues.ingest.getJob(String(job.id)))?.data.events).toEqual([raw('CRM-K')]);
    } finally {
      await Promise.all([landingAudit, ...Object.values(delivery)].map((q) => q.close()));
    }
  });
});
