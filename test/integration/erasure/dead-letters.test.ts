import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { VisitorStore } from '../../../src/coalesce/store.js';
import { DeadLetterAdmin } from '../../../src/dlq/admin.js';
import { DeadLetters } from '../../../src/dlq/writer.js';
import { withoutVisitors } from '../../../src/dlq/visitor-filter.js';
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
});
