import { describe, expect, it } from 'vitest';
import type { ValidEvent } from '../../../src/events/index.js';
import { pipelinePerTest, waitFor } from '../../harness/pipeline.js';

// One claim's single updates run as a pool of parallel calls: a visitor whose call is slow
// holds up its own slot only. (Calls in waves of 16 made every later visitor of the claim
// wait for the slowest call of its wave.)
describe('single delivery of one claim', () => {
  const pipelines = pipelinePerTest();

  it("delivers the other visitors of the claim while one visitor's call is still under way", async () => {
    // One claim (FLUSH_BATCH_SIZE 100 ≥ 40 visitors), one job at a time; the slow call
    // (6 s) ends well before the client's timeout (15 s), so it is not retried.
    const running = await pipelines.start({
      DELIVERY_MODE: 'single',
      FLUSH_BATCH_SIZE: '100',
      WORKER_CONCURRENCY: '1',
      TARGET_TIMEOUT_MS: '15000',
    });
    const sim = running.simulator;
    sim.faults.slowVisitor('a-slow', 6000);
    const now = Date.now();
    const event = (n: number, id: string): ValidEvent => ({
      id: `e${n}`,
      type: 'test',
      occurredAtMs: now - 1000,
      visitor: { kind: 'pcId', id },
      attributes: { tier: `t${n}` },
    });
    // Merged together, all are due at once; the due index orders equal times by key, so the
    // slow visitor ('a-…' before 'b-…') is the first of the claim.
    const others = Array.from({ length: 39 }, (_, i) => `b-${String(i + 1).padStart(2, '0')}`);
    await running.pipeline.store.merge('pos', [event(0, 'a-slow'), ...others.map((id, i) => event(i + 1, id))], now);

    const othersDelivered = () => others.every((id) => sim.store.get('pcId', id) !== undefined);
    expect(await waitFor(othersDelivered, 15_000)).toBe(true);
    // All 39 landed while the slow call was still open, and it was the only call for it.
    expect(sim.store.get('pcId', 'a-slow')).toBeUndefined();
    expect(sim.stats.single).toBe(39);
    expect(await waitFor(() => sim.store.get('pcId', 'a-slow') !== undefined, 20_000)).toBe(true);
    expect(sim.store.get('pcId', 'a-slow')).toEqual({ tier: 't0' });
    expect(sim.stats.single).toBe(40);
  }, 40_000);
});
