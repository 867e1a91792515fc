import { describe, expect, it } from 'vitest';
import { Metrics } from '../../../src/metrics/metrics.js';

/** `ti_source_last_event_seconds`: what the "source silent" alert reads (docs/operations.md#alerts). */
describe('ti_source_last_event_seconds', () => {
  const none = { accepted: 0, duplicates: 0, rejected: [] };

  it('is the time of the last intake batch with an accepted event, per source, in Unix seconds', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.recordIntake('pos', { ...none, accepted: 3 }, 1_765_000_000_500);
    metrics.recordIntake('crm', { ...none, accepted: 1 }, 1_765_000_100_000);
    metrics.recordIntake('pos', { ...none, accepted: 2 }, 1_765_000_200_000);
    const text = await metrics.registry.metrics();
    expect(text).toContain('ti_source_last_event_seconds{source="pos"} 1765000200');
    expect(text).toContain('ti_source_last_event_seconds{source="crm"} 1765000100');
  });

  it('does not move for a batch of duplicates or rejections only, and has no series before the first event', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.recordIntake('pos', { ...none, duplicates: 4 }, 1_765_000_000_000);
    metrics.recordIntake('pos', { ...none, rejected: [{ index: 0, errors: ['id: required'] }] }, 1_765_000_000_000);
    expect(await metrics.registry.metrics()).not.toMatch(/^ti_source_last_event_seconds\{/m);
    metrics.recordIntake('pos', { ...none, accepted: 1 }, 1_765_000_000_000);
    metrics.recordIntake('pos', { ...none, duplicates: 1 }, 1_765_000_900_000);
    expect(await metrics.registry.metrics()).toContain('ti_source_last_event_seconds{source="pos"} 1765000000');
  });
});
