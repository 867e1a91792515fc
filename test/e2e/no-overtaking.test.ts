import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProducer, type Producer } from '../../src/intake/producer.js';
import { deletePrefix, newRedis } from '../harness/context.js';
import { startTestPipeline, waitFor, type TestPipeline } from '../harness/pipeline.js';

const VISITOR = { mboxPC: '1368007744041-123456.01_00' };

function tierEvent(id: string, occurredAtMs: number, tier: string) {
  return {
    id,
    type: 'loyalty_card_used',
    occurredAt: new Date(occurredAtMs).toISOString(),
    visitor: VISITOR,
    data: { storeId: 'S1', tier },
  };
}

// P4 and P6 while a delivery retries: the visitor stays in that one delivery (no second,
// parallel delivery), and what arrives meanwhile rides its next attempt.
describe('a delivery that retries while events for its visitor keep arriving', () => {
  let redis: Redis;
  let running: TestPipeline;
  let producer: Producer;

  beforeAll(async () => {
    redis = newRedis();
    running = await startTestPipeline({ DELIVERY_MODE: 'single', COALESCE_WINDOW_MS: '50', RETRY_BASE_MS: '100' });
    producer = createProducer({ connection: redis, prefix: running.prefix, source: 'pos' });
  });
  afterAll(async () => {
    await producer.close();
    await running.close();
    await deletePrefix(redis, running.prefix);
    await redis.quit();
  });

  it('sends the newest value with the next attempt and never writes an older value after it', async () => {
    const { simulator, pipeline } = running;
    const tiersWritten: string[] = [];
    simulator.store.onWrite((w) => {
      if (w.attributes.loyaltyTier !== undefined) tiersWritten.push(w.attributes.loyaltyTier);
    });
    const now = Date.now();
    simulator.faults.outage(503);
    await producer.send(tierEvent('e-silver', now - 2 * 3600_000, 'silver'));
    expect(await waitFor(() => (simulator.stats.byStatus[503] ?? 0) >= 1)).toBe(true);

    // While the claim waits for its retry: one newer and one older event.
    await producer.sendMany([
      tierEvent('e-gold', now - 3600_000, 'gold'),
      tierEvent('e-bronze', now - 3 * 3600_000, 'bronze'),
    ]);
    expect(
      await waitFor(async () => {
        const stats = await pipeline.store.stats();
        return stats.events_applied === 2 && stats.events_superseded === 1;
      }),
    ).toBe(true);
    // Held: the visitor is still in its first delivery, not in a second one.
    expect(await pipeline.store.inFlightVisitors()).toBe(1);

    simulator.faults.restore();
    expect(
      await waitFor(
        async () => (await pipeline.store.inFlightVisitors()) === 0 && (await pipeline.store.pendingVisitors()) === 0,
      ),
    ).toBe(true);
    expect(simulator.store.get('pcId', VISITOR.mboxPC)?.loyaltyTier).toBe('gold');
    // The first attempt Target accepted already carried the newer value.
    expect(tiersWritten).toEqual(['gold']);
  });
});
