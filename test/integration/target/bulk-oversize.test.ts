import { describe, expect, it } from 'vitest';
import type { ValidEvent } from '../../../src/events/index.js';
import { pipelinePerTest, waitFor } from '../../harness/pipeline.js';

// Target refuses more than 64 KB of profile data per visitor; in a bulk file that would only
// show as a failed update in the batch counts, so the visitor is dead-lettered by itself.
describe('bulk delivery of a visitor over the 64 KB profile data limit', () => {
  const pipelines = pipelinePerTest();

  it('dead-letters that visitor with PROFILE_TOO_LARGE and delivers the others of the claim', async () => {
    const running = await pipelines.start({ DELIVERY_MODE: 'bulk' });
    const now = Date.now();
    const event = (n: number, attributes: Record<string, string>): ValidEvent => ({
      id: `e${n}`, type: 'test', occurredAtMs: now - 1000, visitor: { kind: 'thirdPartyId', id: `CRM-${n}` }, attributes,
    });
    // 300 attributes of 250 characters: about 77 KB. The store takes what the map worker
    // would have validated; this reaches it directly, as a custom mapping could.
    const huge = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`attr${i}`, 'x'.repeat(250)]));
    await running.pipeline.store.merge('pos', [event(1, huge), event(2, { tier: 'gold' })], now);

    const letters = running.pipeline.queues.deadLetter;
    expect(await waitFor(async () => (await letters.count()) === 1, 15_000)).toBe(true);
    const [entry] = await letters.getJobs(['waiting', 'delayed', 'completed', 'failed', 'active']);
    expect(entry?.data.stage).toBe('deliver-bulk');
    expect(entry?.data.error.code).toBe('PROFILE_TOO_LARGE');
    expect(JSON.stringify(entry?.data)).toContain('CRM-1');
    expect(JSON.stringify(entry?.data)).not.toContain('CRM-2');
    expect(await waitFor(() => running.simulator.store.get('thirdPartyId', 'CRM-2') !== undefined, 15_000)).toBe(true);
    expect(running.simulator.store.get('thirdPartyId', 'CRM-1')).toBeUndefined();
  });
});
