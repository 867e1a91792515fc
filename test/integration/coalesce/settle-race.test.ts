import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { VisitorStore } from '../../../src/coalesce/store.js';
import type { ValidEvent } from '../../../src/events/index.js';
import { deletePrefix, newRedis, uniquePrefix } from '../../harness/context.js';

const T0 = Date.parse('2026-11-21T10:00:00.000Z');
const VK = '3p:CRM-0';

function event(id: string, minute: number, points: string): ValidEvent {
  return {
    id,
    type: 'test',
    occurredAtMs: T0 + minute * 60_000,
    visitor: { kind: 'thirdPartyId', id: 'CRM-0' },
    attributes: { loyaltyLastPoints: points },
  };
}

/**
 * The interleaving behind the rare failure of test/e2e/import-resume-delivery.test.ts
 * (CRM-0 read at the simulator with pos-1000's values, pos-4200 expected):
 *  1. the first bulk claim freezes CRM-0 with pos-1000 and is with Target;
 *  2. pos-4200 is merged: pending, and due;
 *  3. a claim pass finds CRM-0 held and takes it off the due index (it stays leased);
 *  4. the test's settle check reads the due index: 0;
 *  5. the batch completes, the status job acks: CRM-0's lease goes, it is due again;
 *  6. the check reads the leases: 0. "Settled", and the test reads the simulator before
 *     pos-4200 is delivered (a 2 s bulk batch later it is).
 */
describe('settle check of the visitor store', () => {
  let redis: Redis;
  let prefix: string;
  let store: VisitorStore;

  beforeAll(() => {
    redis = newRedis();
  });
  afterAll(async () => {
    await redis.quit();
  });
  beforeEach(async () => {
    prefix = uniquePrefix('settle');
    store = new VisitorStore(redis, {
      prefix,
      coalesceWindowMs: 200,
      dedupeWindowMs: 60_000,
      deliveredRetentionMs: 60_000,
      leaseMs: 60_000,
    });
    await store.merge('pos', [event('pos-1000', 1000, '1000')], T0);
    expect(await store.claimDue('bulk-1', 10, T0 + 200)).toEqual([VK]);
    await store.snapshot('bulk-1', [VK], T0 + 200, { freeze: true });
    await store.merge('pos', [event('pos-4200', 4200, '4200')], T0 + 300);
    // A claim pass finds CRM-0 held: it leaves the due index, its lease stays.
    expect(await store.claimDue('other', 10, T0 + 600)).toEqual([]);
  });
  afterEach(async () => {
    await deletePrefix(redis, prefix);
  });

  const ackBatch = async (): Promise<void> => {
    const acked = await store.ackInFlight('bulk-1', [VK], T0 + 2300);
    expect(acked).toEqual({ done: 1, more: [] });
  };

  it('the two reads the e2e test made can both be 0 while pos-4200 waits (the race)', async () => {
    expect(await store.pendingVisitors()).toBe(0);
    await ackBatch();
    expect(await store.inFlightVisitors()).toBe(0);
    // ...yet pos-4200 is pending, due again now:
    expect(await store.pendingVisitors()).toBe(1);
  });

  it('backlog() reads both at once: CRM-0 counts before and after the ack', async () => {
    expect(await store.backlog()).toEqual({ pending: 0, inFlight: 1 });
    await ackBatch();
    expect(await store.backlog()).toEqual({ pending: 1, inFlight: 0 });
    expect(await store.claimDue('next', 10, T0 + 2400)).toEqual([VK]);
    const [snap] = await store.snapshot('next', [VK], T0 + 2400);
    expect(snap?.attributes.get('loyaltyLastPoints')?.value).toBe('4200');
    expect(await store.backlog()).toEqual({ pending: 0, inFlight: 1 });
  });
});
