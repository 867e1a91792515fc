import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallBudget } from '../../../src/quota/budgets.js';
import { deletePrefix, newRedis, uniquePrefix } from '../../harness/context.js';

describe('CallBudget (shared through Redis)', () => {
  let redisA: Redis;
  let redisB: Redis;
  const prefix = uniquePrefix('budget');

  beforeAll(() => {
    redisA = newRedis();
    redisB = newRedis();
  });
  afterAll(async () => {
    await deletePrefix(redisA, prefix);
    await redisA.quit();
    await redisB.quit();
  });

  it('never grants more than the limit inside the window, whichever process asks', async () => {
    const settings = { name: 'race', limit: 100, windowMs: 60_000, bucketMs: 1000 };
    // Two "processes": two connections, two instances, one key.
    const a = new CallBudget(redisA, prefix, settings);
    const b = new CallBudget(redisB, prefix, settings);
    const now = 1_000_000;
    const asks = Array.from({ length: 300 }, (_, i) => (i % 2 === 0 ? a : b).reserve(1 + (i % 3), now + i));
    const results = await Promise.all(asks);
    const total = results.reduce((n, r, i) => n + (r.granted ? 1 + (i % 3) : 0), 0);
    expect(total).toBeLessThanOrEqual(100);
    expect(total).toBeGreaterThanOrEqual(98); // it fills up, it does not stop early
    const refused = results.find((r) => !r.granted);
    expect(refused?.retryInMs).toBeGreaterThan(0);
  });

  it('frees room as buckets leave the rolling window, and tells when', async () => {
    const budget = new CallBudget(redisA, prefix, { name: 'roll', limit: 10, windowMs: 10_000, bucketMs: 1000 });
    const t0 = 5_000_000;
    expect((await budget.reserve(6, t0)).granted).toBe(true);
    expect((await budget.reserve(4, t0 + 3000)).granted).toBe(true);
    const full = await budget.reserve(1, t0 + 5000);
    expect(full.granted).toBe(false);
    expect(full.used).toBe(10);
    // The first bucket leaves the window 10 s after it began.
    expect(full.retryInMs).toBe(5000);
    expect((await budget.reserve(1, t0 + 9999)).granted).toBe(false);
    const later = await budget.reserve(6, t0 + 10_000);
    expect(later).toMatchObject({ granted: true, used: 10 });
  });

  it('reports the recent pace for routing decisions', async () => {
    const budget = new CallBudget(redisA, prefix, {
      name: 'pace',
      limit: 1000,
      windowMs: 24 * 3600_000,
      bucketMs: 60_000,
      recentMs: 3600_000,
    });
    const t0 = 100 * 24 * 3600_000;
    await budget.reserve(100, t0);
    await budget.reserve(50, t0 + 2 * 3600_000);
    const state = await budget.peek(t0 + 2 * 3600_000 + 1000);
    expect(state).toMatchObject({ used: 150, recent: 50 });
  });

  // Target answered 503: the account's shared minute is spent (maybe by its other users):
  // every process holds its bulk calls until the pause ends, whatever its own count says.
  it('grants nothing, in any process, while a pause holds, and never shortens a longer pause', async () => {
    const settings = { name: 'paused', limit: 50, windowMs: 60_000, bucketMs: 1000 };
    const a = new CallBudget(redisA, prefix, settings);
    const b = new CallBudget(redisB, prefix, settings);
    await a.pause(800);
    const refused = await b.reserve(1);
    expect(refused).toMatchObject({ granted: false, used: 0 });
    expect(refused.pausedForMs).toBeGreaterThan(600);
    expect(refused.retryInMs).toBe(refused.pausedForMs);
    expect((await b.peek()).pausedForMs).toBeGreaterThan(0);
    await b.pause(100);
    expect((await a.peek()).pausedForMs).toBeGreaterThan(500);
    await new Promise((r) => setTimeout(r, 900));
    expect(await a.reserve(1)).toMatchObject({ granted: true, pausedForMs: 0 });
  });
});
