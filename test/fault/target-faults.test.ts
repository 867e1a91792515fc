import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createProducer } from '../../src/intake/producer.js';
import { deletePrefix, newRedis } from '../harness/context.js';
import { startTestPipeline, waitFor, type TestPipeline } from '../harness/pipeline.js';
import { expectNothingLost, faultOutcome } from './fault-checks.js';
import { workload } from './fault-workload.js';

describe('deliveries survive an unreliable Target without breaking its limits', () => {
  let redis: Redis;
  let running: TestPipeline | undefined;

  beforeEach(() => {
    redis = newRedis();
  });
  afterEach(async () => {
    if (running !== undefined) {
      await running.close();
      await deletePrefix(redis, running.prefix);
    }
    running = undefined;
    await redis.quit();
  });

  it('auto mode under 5xx, dropped connections, stuck batches and a tight bulk limit: every update lands, no 503 for rate', async () => {
    running = await startTestPipeline(
      {
        LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
        DELIVERY_MODE: 'auto',
        BULK_THRESHOLD: '40',
        BULK_CALLS_PER_MINUTE: '8',
        BULK_CALLS_WINDOW_MS: '3000',
        SINGLE_DAILY_BUDGET: '100000',
        BULK_MAX_RESUBMITS: '5',
        BULK_STATUS_MAX_POLL_MS: '500',
        RETRY_MAX_MS: '1000',
        TARGET_TIMEOUT_MS: '1000',
        CLAIM_LEASE_MS: '4000',
      },
      undefined,
      { bulkCallsPerMinute: 8, bulkRateWindowMs: 3000, latencyMs: 5, batchProcessingMs: 150 },
    );
    const sim = running.simulator;
    sim.faults.failNext(6, 500);
    sim.faults.dropConnections(3);
    sim.faults.stickNextBatches(2);
    const producer = createProducer({ connection: redis, prefix: running.prefix, source: 'pos' });
    const events = workload(120, 4, 'a');
    let accepted = 0;
    for (let i = 0; i < events.length; i += 60) {
      const summary = await producer.sendMany(events.slice(i, i + 60));
      expect(summary.accepted).toBe(Math.min(60, events.length - i));
      accepted += summary.accepted;
    }
    expectNothingLost(
      await faultOutcome({ redis, prefix: running.prefix, accepted, events, landed: () => sim.store.all() }),
      'first wave',
    );
    // A second, small wave for visitors Target now knows goes by single calls.
    sim.faults.failNext(3, 502);
    const later = workload(10, 2, 'a').map((e) => ({
      ...e,
      id: `${e.id}-late`,
      occurredAt: e.occurredAt.replace('2026-11-21', '2026-11-22'),
    }));
    accepted += (await producer.sendMany(later)).accepted;
    await producer.close();
    events.push(...later);
    expectNothingLost(
      await faultOutcome({ redis, prefix: running.prefix, accepted, events, landed: () => sim.store.all() }),
      'auto mode under faults',
    );
    expect(sim.stats.rateLimited).toBe(0);
    expect(sim.stats.bulk).toBeGreaterThan(0);
    expect(sim.stats.single).toBeGreaterThan(0);
  });

  it('single mode through a 503 outage and 429s with Retry-After: every update lands within the single budget', async () => {
    running = await startTestPipeline(
      {
        DELIVERY_MODE: 'single',
        SINGLE_DAILY_BUDGET: '1000',
        RETRY_BASE_MS: '100',
        RETRY_MAX_MS: '400',
        TARGET_TIMEOUT_MS: '1000',
        CLAIM_LEASE_MS: '4000',
      },
      undefined,
      { latencyMs: 5 },
    );
    const sim = running.simulator;
    sim.faults.outage(503);
    const producer = createProducer({ connection: redis, prefix: running.prefix, source: 'pos' });
    const events = workload(60, 3, 'b');
    let accepted = (await producer.sendMany(events)).accepted;
    // Long enough for several backoff steps to fail.
    // Several failed attempts of the whole claim (60 visitors each) before Target returns.
    expect(await waitFor(() => (sim.stats.byStatus[503] ?? 0) >= 4 * 60, 30_000, 50)).toBe(true);
    sim.faults.restore();
    sim.faults.failNext(10, 429, { retryAfterSeconds: 1 });
    expectNothingLost(
      await faultOutcome({ redis, prefix: running.prefix, accepted, events, landed: () => sim.store.all() }),
      'single mode after the storm',
    );

    // Backoff for 429 is visible in timings: one visitor, three 429s with Retry-After: 1; its
    // retries come at least a second apart although RETRY_MAX_MS is 400 ms.
    const throttledFrom = sim.stats.requests.length;
    sim.faults.failNext(3, 429, { retryAfterSeconds: 1 });
    const throttled = {
      id: 'b-throttled',
      type: 'loyalty_card_used',
      occurredAt: '2026-11-21T12:00:00.000Z',
      visitor: { mbox3rdPartyId: 'CRM-THROTTLED' },
      data: { storeId: 'S-T', points: 1 },
    } as const;
    accepted += (await producer.sendMany([throttled])).accepted;
    await producer.close();
    events.push(throttled);
    expectNothingLost(
      await faultOutcome({ redis, prefix: running.prefix, accepted, events, landed: () => sim.store.all() }),
      'single mode after the 429s',
    );
    const answers = sim.stats.requests.slice(throttledFrom).filter((r) => r.path.includes('/profile/update'));
    expect(answers.map((r) => r.status)).toEqual([429, 429, 429, 200]);
    const gaps = answers.slice(1).map((r, i) => r.at - (answers[i]?.at ?? r.at));
    for (const gap of gaps) expect(gap, `gaps between attempts: ${gaps.join(', ')} ms`).toBeGreaterThanOrEqual(1000);

    // Every call Target saw counts against the budget, failed ones included.
    const calls = sim.stats.requests.filter((r) => r.path.includes('/profile/update')).length;
    expect(calls).toBeLessThanOrEqual(1000);
    const budget = await running.pipeline.budgets.single.peek();
    expect(budget.used).toBeGreaterThanOrEqual(calls);
  });

  it('single mode waits when its daily budget is spent: no call past it, nothing dropped', async () => {
    running = await startTestPipeline({ DELIVERY_MODE: 'single', SINGLE_DAILY_BUDGET: '10', FLUSH_BATCH_SIZE: '5' });
    const producer = createProducer({ connection: redis, prefix: running.prefix, source: 'pos' });
    const events = workload(30, 1, 'd');
    await producer.sendMany(events);
    await producer.close();
    expect(await waitFor(() => running?.simulator.stats.single === 10, 20_000)).toBe(true);
    // Give the waiting jobs time to (wrongly) try again.
    await new Promise((r) => setTimeout(r, 1500));
    expect(running.simulator.stats.single).toBe(10);
    expect(await running.pipeline.store.inFlightVisitors()).toBe(20);
    expect(await running.pipeline.queues.deadLetter.count()).toBe(0);
    expect(await running.pipeline.queues.deliverSingle.getDelayedCount()).toBeGreaterThan(0);
  });

  it('auto mode hands what the spent single budget cannot carry to bulk', async () => {
    running = await startTestPipeline({ DELIVERY_MODE: 'auto', SINGLE_DAILY_BUDGET: '10', BULK_THRESHOLD: '1000' });
    const producer = createProducer({ connection: redis, prefix: running.prefix, source: 'pos' });
    // Known visitors (mboxPC) would go single; the budget of 10 cannot carry 30 of them.
    const events = workload(60, 1, 'c').filter((e) => 'mboxPC' in e.visitor);
    const { accepted } = await producer.sendMany(events);
    await producer.close();
    const sim = running.simulator;
    expectNothingLost(
      await faultOutcome({ redis, prefix: running.prefix, accepted, events, landed: () => sim.store.all() }),
      'auto mode past the single budget',
    );
    expect(running.simulator.stats.single).toBeLessThanOrEqual(10);
    // mboxPC files go to v1 (BULK_PCID_ROUTE=v1, the ECID default).
    expect(running.simulator.stats.bulkV1).toBeGreaterThan(0);
  });
});
