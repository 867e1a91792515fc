import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { DeadLetterAdmin } from '../../src/dlq/admin.js';
import { createProducer } from '../../src/intake/producer.js';
import { createLogger } from '../../src/logger.js';
import { newRedis } from '../harness/context.js';
import { startTestPipeline, waitFor } from '../harness/pipeline.js';

// P9: visitors of one single-delivery claim that fail differently are dead-lettered each
// with its own failure, not all under the one that set the retry delay.
describe('dead letters of one claim whose visitors failed differently', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = newRedis();
  });
  afterAll(async () => {
    await redis.quit();
  });

  it('say each failure: one entry per error code, each holding the visitors that got it', async () => {
    const running = await startTestPipeline({
      DELIVERY_MODE: 'single',
      DELIVERY_MAX_ATTEMPTS: '2',
      DELIVERY_MAX_AGE_MS: '300',
      RETRY_BASE_MS: '50',
      RETRY_MAX_MS: '100',
    });
    try {
      running.simulator.faults.rejectVisitor('CRM-503', 503);
      running.simulator.faults.rejectVisitor('CRM-502', 502);
      const producer = createProducer({ connection: redis, prefix: running.prefix, source: 'pos' });
      const event = (id: string, visitor: string) => ({
        id,
        type: 'kiosk_visit',
        occurredAt: '2026-11-21T10:00:00Z',
        visitor: { mbox3rdPartyId: visitor },
        data: { kioskId: 'K1' },
      });
      await producer.sendMany([event('c-1', 'CRM-503'), event('c-2', 'CRM-502')]);
      await producer.close();
      const admin = new DeadLetterAdmin(
        running.pipeline.queues,
        running.pipeline.store,
        createLogger({ level: 'silent', pretty: false }),
      );
      expect(await waitFor(async () => (await admin.list({})).total === 2, 20_000, 100)).toBe(true);
      const entries = (await admin.list({})).entries;
      const byCode = Object.fromEntries(entries.map((e) => [e.error.code, (e.visitors ?? []).map((v) => v.vk)]));
      expect(byCode).toEqual({ TARGET_HTTP_503: ['3p:CRM-503'], TARGET_HTTP_502: ['3p:CRM-502'] });
    } finally {
      await running.close();
    }
  }, 30_000);
});
