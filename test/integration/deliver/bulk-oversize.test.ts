import { describe, expect, it } from 'vitest';
import type { ValidEvent } from '../../../src/events/index.js';
import { BULK_READ_CHUNK } from '../../../src/deliver/deliver-bulk.js';
import { pipelinePerTest, waitFor } from '../../harness/pipeline.js';

// Target refuses more than 64 KB of profile data per visitor; in a bulk file that would only
// show as a failed update in the batch counts, so the visitor is dead-lettered by itself.
describe('bulk delivery of a visitor over the 64 KB profile data limit', () => {
  const pipelines = pipelinePerTest();

  it('dead-letters that visitor with PROFILE_TOO_LARGE and delivers the others of the claim', async () => {
    const running = await pipelines.start({ DELIVERY_MODE: 'bulk' });
    const now = Date.now();
    const event = (n: number, attributes: Record<string, string>): ValidEvent => ({
      id: `e${n}`,
      type: 'test',
      occurredAtMs: now - 1000,
      visitor: { kind: 'thirdPartyId', id: `CRM-${n}` },
      attributes,
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

  it('finds it in a later chunk of a claim bigger than one read (BULK_READ_CHUNK), and delivers every other visitor of the claim', async () => {
    const running = await pipelines.start({ DELIVERY_MODE: 'bulk', COALESCE_WINDOW_MS: '1000' });
    const now = Date.now();
    const total = BULK_READ_CHUNK + 100;
    const hugeAt = BULK_READ_CHUNK + 50;
    const huge = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`attr${i}`, 'x'.repeat(250)]));
    const events: ValidEvent[] = Array.from({ length: total }, (_, n) => ({
      id: `e${n}`,
      type: 'test',
      occurredAtMs: now - 1000,
      visitor: { kind: 'thirdPartyId', id: `CRM-${n}` },
      attributes: n === hugeAt ? huge : { tier: `t${n}` },
    }));
    // One merge, so every visitor falls due in the same flush and lands in one claim.
    await running.pipeline.store.merge('pos', events, now);

    const letters = running.pipeline.queues.deadLetter;
    expect(await waitFor(async () => (await letters.count()) === 1, 30_000)).toBe(true);
    const [entry] = await letters.getJobs(['waiting', 'delayed', 'completed', 'failed', 'active']);
    expect(entry?.data.error.code).toBe('PROFILE_TOO_LARGE');
    expect(entry?.data.visitors?.map((v) => v.vk)).toEqual([`3p:CRM-${hugeAt}`]);
    const sim = running.simulator.store;
    expect(
      await waitFor(
        () => events.every((e, n) => n === hugeAt || sim.get('thirdPartyId', e.visitor.id)?.tier === `t${n}`),
        30_000,
      ),
    ).toBe(true);
    expect(running.simulator.stats.bulk).toBe(1);
  });
});
