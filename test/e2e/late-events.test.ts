import type { Redis } from 'ioredis';
import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import { createProducer, type Producer } from '../../src/intake/producer.js';
import { deletePrefix, newRedis } from '../harness/context.js';
import { startTestPipeline, waitFor, type TestPipeline } from '../harness/pipeline.js';

const DAY = 24 * 3600_000;
const VISITOR = { mboxPC: '1368007744041-575948.01_00' };

function loyalty(id: string, occurredAtMs: number, data: Record<string, unknown>) {
  return {
    id,
    type: 'loyalty_card_used',
    occurredAt: new Date(occurredAtMs).toISOString(),
    visitor: VISITOR,
    data: { storeId: 'S1', ...data },
  };
}

// P4 for offline events that arrive days late, and what happens once the delivered stamp
// is past DELIVERED_RETENTION_MS (docs/architecture.md, "After the retention").
describe('late offline events', () => {
  let redis: Redis;
  let running: TestPipeline | undefined;
  let producer: Producer | undefined;

  beforeAll(() => {
    redis = newRedis();
  });
  afterAll(async () => {
    await redis.quit();
  });
  afterEach(async () => {
    await producer?.close();
    if (running !== undefined) {
      await running.close();
      await deletePrefix(redis, running.prefix);
    }
    producer = undefined;
    running = undefined;
  });

  async function start(env: Record<string, string>): Promise<{ running: TestPipeline; producer: Producer }> {
    running = await startTestPipeline({ DELIVERY_MODE: 'single', COALESCE_WINDOW_MS: '50', ...env });
    producer = createProducer({ connection: redis, prefix: running.prefix, source: 'pos' });
    return { running, producer };
  }

  const profile = (p: TestPipeline) => p.simulator.store.get('pcId', VISITOR.mboxPC);
  // One atomic read of both counts: read one after the other, a visitor acked between the
  // reads (its newer values due again) hides from both (test/integration/coalesce/settle-race.test.ts).
  const idle = async (p: TestPipeline) => {
    const { pending, inFlight } = await p.pipeline.store.backlog();
    return pending === 0 && inFlight === 0;
  };

  it('drops an event older than the value Target holds, counts it, and never sends it', async () => {
    const { running: p, producer: send } = await start({});
    const now = Date.now();
    expect((await send.send(loyalty('till-2', now - 3600_000, { tier: 'gold' }))).status).toBe('accepted');
    expect(await waitFor(async () => profile(p)?.loyaltyTier === 'gold' && (await idle(p)))).toBe(true);
    const callsBefore = p.simulator.stats.single;

    // Three days later a till that was offline uploads an older card use.
    expect((await send.send(loyalty('till-1', now - 3 * DAY, { tier: 'bronze', storeId: 'S9' }))).status).toBe(
      'accepted',
    );
    expect(await waitFor(async () => ((await p.pipeline.store.stats()).events_late_dropped ?? 0) === 1)).toBe(true);
    // Dropped at the merge: nothing is pending, so no call can follow.
    expect(await idle(p)).toBe(true);
    expect(p.simulator.stats.single).toBe(callsBefore);
    expect(profile(p)).toMatchObject({ loyaltyTier: 'gold', loyaltyLastStoreId: 'S1' });
  });

  it('still delivers the attributes of a late event that Target does not hold yet', async () => {
    const { running: p, producer: send } = await start({});
    const now = Date.now();
    await send.send(loyalty('till-2', now - 3600_000, { tier: 'gold' }));
    expect(await waitFor(async () => profile(p)?.loyaltyTier === 'gold' && (await idle(p)))).toBe(true);

    // Older, but the only event that ever carried points: points go, the rest is too old.
    await send.send(loyalty('till-1', now - 3 * DAY, { tier: 'bronze', points: 40 }));
    expect(await waitFor(() => profile(p)?.loyaltyLastPoints === '40')).toBe(true);
    expect(await waitFor(() => idle(p))).toBe(true);
    expect(profile(p)).toMatchObject({
      loyaltyTier: 'gold',
      loyaltyLastPoints: '40',
      loyaltyLastUsedAt: new Date(now - 3600_000).toISOString(),
    });
    expect(await p.pipeline.store.stats()).toMatchObject({ events_applied: 2 });
  });

  it('treats a late event as new once the delivered stamp is past DELIVERED_RETENTION_MS (documented choice)', async () => {
    const { running: p, producer: send } = await start({ DELIVERED_RETENTION_MS: '300' });
    const now = Date.now();
    await send.send(loyalty('till-2', now - 3600_000, { tier: 'gold' }));
    expect(await waitFor(async () => profile(p)?.loyaltyTier === 'gold' && (await idle(p)))).toBe(true);
    // The pipeline forgets what Target holds once the retention has passed.
    const delivered = p.pipeline.store.keys.delivered(`pc:${VISITOR.mboxPC}`);
    expect(await waitFor(async () => (await redis.exists(delivered)) === 0)).toBe(true);

    await send.send(loyalty('till-1', now - 3 * DAY, { tier: 'bronze' }));
    expect(await waitFor(() => profile(p)?.loyaltyTier === 'bronze')).toBe(true);
    expect(await p.pipeline.store.stats()).toEqual({ events_applied: 2 });
  });
});
