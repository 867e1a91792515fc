import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { VisitorStore } from '../../../src/coalesce/store.js';
import type { ValidEvent } from '../../../src/events/index.js';
import { deletePrefix, newRedis, uniquePrefix } from '../../harness/context.js';

/**
 * The landing audit's repair (src/coalesce/lua/resend-delivered.lua): a delivered value
 * Target does not hold goes back through the normal path, and never beats a newer value.
 */
const T0 = Date.parse('2026-11-21T10:00:00.000Z');
const VK = '3p:CRM-1';

function event(id: string, minute: number, attributes: Record<string, string>): ValidEvent {
  return {
    id,
    type: 'test',
    occurredAtMs: T0 + minute * 60_000,
    visitor: { kind: 'thirdPartyId', id: 'CRM-1' },
    attributes,
  };
}

describe('VisitorStore.resendDelivered', () => {
  let redis: Redis;
  let prefix: string;
  let store: VisitorStore;

  beforeAll(() => {
    redis = newRedis();
  });
  afterAll(async () => {
    await redis.quit();
  });
  beforeEach(() => {
    prefix = uniquePrefix('resend');
    store = new VisitorStore(redis, {
      prefix,
      coalesceWindowMs: 1000,
      dedupeWindowMs: 60_000,
      deliveredRetentionMs: 3_600_000,
      leaseMs: 5000,
      profileLifetimeMs: 14 * 24 * 3600_000,
    });
  });
  afterEach(async () => {
    await deletePrefix(redis, prefix);
  });

  /** Merges and delivers (claims, snapshots, acks) one event for the visitor. */
  async function deliver(id: string, minute: number, attributes: Record<string, string>, now: number): Promise<void> {
    await store.merge('pos', [event(id, minute, attributes)], now);
    const claim = `c-${id}`;
    expect(await store.claimDue(claim, 10, now + 1000)).toEqual([VK]);
    const [snapshot] = await store.snapshot(claim, [VK], now + 1000);
    if (snapshot === undefined) throw new Error('nothing claimed');
    expect(await store.ack(claim, snapshot, now + 1000)).toBe('done');
  }

  /** Claims what is due at `now` and returns the values the delivery would send. */
  async function nextDelivery(now: number): Promise<Record<string, string>> {
    const claimed = await store.claimDue('next', 10, now);
    const [snapshot] = await store.snapshot('next', claimed, now);
    return Object.fromEntries([...(snapshot?.attributes ?? [])].map(([name, u]) => [name, u.value]));
  }

  it('reads what was delivered, and puts the named values back as they were delivered, due after the window', async () => {
    await deliver('e1', 1, { tier: 'gold', store: 'S1' }, T0);
    const delivered = await store.readDelivered(VK);
    expect(Object.fromEntries(delivered)).toEqual({
      tier: { value: 'gold', stamp: expect.stringMatching(/\|e1$/) as unknown },
      store: { value: 'S1', stamp: expect.stringMatching(/\|e1$/) as unknown },
    });
    expect(await store.pendingVisitors()).toBe(0);

    expect((await store.resendDelivered(VK, ['tier', 'unknown-attribute'], {}, T0 + 5000)).resent).toBe(1);
    expect(await store.dueCount(T0 + 5000)).toBe(0);
    expect(await nextDelivery(T0 + 6000)).toEqual({ tier: 'gold' });
    // The delivered stamps stay: a late event older than the value sent again is still late.
    expect(await store.readDelivered(VK)).toEqual(delivered);
  });

  it('leaves a newer pending value alone: the newer value is what goes (P3/P4)', async () => {
    await deliver('e1', 1, { tier: 'gold', store: 'S1' }, T0);
    await store.merge('pos', [event('e2', 2, { tier: 'platinum' })], T0 + 2000);
    expect((await store.resendDelivered(VK, ['tier', 'store'], {}, T0 + 3000)).resent).toBe(1);
    expect(await nextDelivery(T0 + 10_000)).toEqual({ tier: 'platinum', store: 'S1' });
  });

  it('leaves alone an attribute a delivery is carrying now', async () => {
    await deliver('e1', 1, { tier: 'gold' }, T0);
    await store.merge('pos', [event('e2', 2, { tier: 'platinum' })], T0 + 2000);
    expect(await store.claimDue('under-way', 10, T0 + 4000)).toEqual([VK]);
    expect((await store.resendDelivered(VK, ['tier'], {}, T0 + 5000)).resent).toBe(0);
    expect(await store.pendingVisitors()).toBe(0);
  });

  it('with profileGone, makes the visitor unknown to Target so its next delivery creates the profile (bulk v2)', async () => {
    await deliver('e1', 1, { tier: 'gold' }, T0);
    expect(await store.knownVisitors([VK], T0 + 5000)).toEqual([true]);
    expect((await store.resendDelivered(VK, ['tier'], { profileGone: true }, T0 + 5000)).resent).toBe(1);
    expect(await store.knownVisitors([VK], T0 + 5000)).toEqual([false]);
  });

  it('with profileGone, makes the visitor unknown even when a newer value is pending and nothing is resent', async () => {
    await deliver('e1', 1, { tier: 'gold' }, T0);
    await store.merge('pos', [event('e2', 2, { tier: 'platinum' })], T0 + 3000);
    expect((await store.resendDelivered(VK, ['tier'], { profileGone: true }, T0 + 5000)).resent).toBe(0);
    // The newer value must not go by single update to a profile Target does not have.
    expect(await store.knownVisitors([VK], T0 + 5000)).toEqual([false]);
  });

  it('puts one delivered value back at most maxResends times, then gives up on it; a newer value starts afresh', async () => {
    await deliver('e1', 1, { tier: 'gold' }, T0);
    // Each round: the audit finds it missing, puts it back, and it is delivered (and lost) again.
    for (let round = 1; round <= 2; round += 1) {
      expect(await store.resendDelivered(VK, ['tier'], { maxResends: 2 }, T0 + 5000 * round)).toEqual({
        resent: 1,
        gaveUp: 0,
      });
      const claim = `r-${round}`;
      expect(await store.claimDue(claim, 10, T0 + 5000 * round + 1000)).toEqual([VK]);
      const [snapshot] = await store.snapshot(claim, [VK], T0 + 5000 * round + 1000);
      if (snapshot === undefined) throw new Error('nothing claimed');
      expect(await store.ack(claim, snapshot, T0 + 5000 * round + 1000)).toBe('done');
    }
    expect(await store.resendDelivered(VK, ['tier'], { maxResends: 2 }, T0 + 20_000)).toEqual({ resent: 0, gaveUp: 1 });
    expect(await store.pendingVisitors()).toBe(0);
    // The attribute is still what was delivered: the counter is bookkeeping, not an attribute.
    expect([...(await store.readDelivered(VK)).keys()]).toEqual(['tier']);
    await deliver('e2', 2, { tier: 'platinum' }, T0 + 30_000);
    expect(await store.resendDelivered(VK, ['tier'], { maxResends: 2 }, T0 + 40_000)).toEqual({ resent: 1, gaveUp: 0 });
  });

  it('brings nothing back for a forgotten visitor', async () => {
    await deliver('e1', 1, { tier: 'gold' }, T0);
    await store.forget(VK, T0 + 3_600_000, T0 + 2000);
    expect(await store.readDelivered(VK)).toEqual(new Map());
    expect((await store.resendDelivered(VK, ['tier'], {}, T0 + 3000)).resent).toBe(0);
    expect(await store.pendingVisitors()).toBe(0);
  });
});
