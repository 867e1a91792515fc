import type { Job } from 'bullmq';
import { describe, expect, it } from 'vitest';
import type { DeadLetter } from '../../../src/jobs/catalog.js';
import type { ValidEvent } from '../../../src/events/index.js';
import { pipelinePerTest, waitFor, type TestPipeline } from '../../harness/pipeline.js';

// deliver-bulk reads a claim in chunks and keeps only its file rows; a dead letter after a
// failed submit reads the frozen values again. These say the dead letter still holds
// exactly the visitors of the failed file, with the values that file carried.
describe('bulk delivery when Target refuses a submit', () => {
  const pipelines = pipelinePerTest();

  async function mergeBothKinds(running: TestPipeline): Promise<void> {
    const now = Date.now();
    const event = (n: number, visitor: ValidEvent['visitor'], tier: string): ValidEvent => ({
      id: `e${n}`,
      type: 'test',
      occurredAtMs: now - 1000,
      visitor,
      attributes: { tier },
    });
    await running.pipeline.store.merge(
      'pos',
      [
        event(1, { kind: 'pcId', id: '111.01_00' }, 'gold'),
        event(2, { kind: 'pcId', id: '222.02_00' }, 'silver'),
        event(3, { kind: 'thirdPartyId', id: 'CRM-3' }, 'bronze'),
      ],
      now,
    );
  }

  async function deadLetters(running: TestPipeline): Promise<Array<Job<DeadLetter>>> {
    return running.pipeline.queues.deadLetter.getJobs(['waiting', 'delayed', 'completed', 'failed', 'active']);
  }

  it('dead-letters the visitors of a file refused outright, with their values, and delivers the other file', async () => {
    const running = await pipelines.start({ DELIVERY_MODE: 'bulk' });
    // The pcId file goes first: it gets the 400.
    running.simulator.faults.failNext(1, 400, { endpoint: 'bulk' });
    await mergeBothKinds(running);

    expect(await waitFor(() => running.simulator.store.get('thirdPartyId', 'CRM-3') !== undefined, 15_000)).toBe(true);
    expect(await waitFor(async () => (await running.pipeline.queues.deadLetter.count()) === 1, 15_000)).toBe(true);
    const [entry] = await deadLetters(running);
    expect(entry?.data.stage).toBe('deliver-bulk');
    expect(entry?.data.error.code).toBe('TARGET_HTTP_400');
    const visitors = (entry?.data.visitors ?? []).map((v) => [v.vk, v.attributes.tier?.value]).sort();
    expect(visitors).toEqual([
      ['pc:111.01_00', 'gold'],
      ['pc:222.02_00', 'silver'],
    ]);
    expect(running.simulator.store.get('pcId', '111.01_00')).toBeUndefined();
  });

  // A 500 is Target failing, retried under the policy; a 503 is the shared limit, which
  // pauses and never dead-letters (test/fault/credentials-and-quota.test.ts).
  it('after the retries of a failing submit are spent, dead-letters every visitor of the claim with its values', async () => {
    const running = await pipelines.start({
      DELIVERY_MODE: 'bulk',
      DELIVERY_MAX_ATTEMPTS: '2',
      DELIVERY_MAX_AGE_MS: '1',
      RETRY_BASE_MS: '50',
      RETRY_MAX_MS: '100',
    });
    running.simulator.faults.outage(500, { endpoint: 'bulk' });
    await mergeBothKinds(running);

    expect(await waitFor(async () => (await running.pipeline.queues.deadLetter.count()) === 1, 15_000)).toBe(true);
    const [entry] = await deadLetters(running);
    expect(entry?.data.error.code).toBe('TARGET_HTTP_500');
    const visitors = (entry?.data.visitors ?? []).map((v) => [v.vk, v.attributes.tier?.value]).sort();
    expect(visitors).toEqual([
      ['3p:CRM-3', 'bronze'],
      ['pc:111.01_00', 'gold'],
      ['pc:222.02_00', 'silver'],
    ]);
  });
});
