import type { Job } from 'bullmq';
import { describe, expect, it } from 'vitest';
import type { DeadLetter } from '../../../src/jobs/catalog.js';
import { resolveMapping, type ValidEvent } from '../../../src/events/index.js';
import { PostingMarks } from '../../../src/deliver/posting-marks.js';
import { startPipeline } from '../../../src/lifecycle/start-pipeline.js';
import { createLogger } from '../../../src/logger.js';
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

  /** The visitors of each strict read-back scheduled after an untracked copy (sorted), and its delay. */
  async function rechecks(running: TestPipeline): Promise<Array<[string[], number]>> {
    const jobs = await running.pipeline.queues.landingAudit.getDelayed();
    return jobs
      .map((j): [string[], number] => ['recheck' in j.data ? [...j.data.recheck].sort() : [], j.opts.delay ?? NaN])
      .sort((a, b) => a[1] - b[1]);
  }

  const delivered = (running: TestPipeline) => () =>
    running.simulator.store.get('thirdPartyId', 'CRM-3') !== undefined &&
    running.simulator.store.get('pcId', '111.01_00') !== undefined;

  /** Both kinds delivered (no sampled audit) after the first submit answered `status`, every claim done. */
  async function deliveredAfterFirstSubmit(status: number): Promise<TestPipeline> {
    const running = await pipelines.start({
      DELIVERY_MODE: 'bulk',
      LANDING_AUDIT_SAMPLE: '0',
      BULK_CALLS_WINDOW_MS: '1000',
    });
    running.simulator.faults.failNext(1, status, { endpoint: 'bulk' });
    await mergeBothKinds(running);
    expect(await waitFor(delivered(running), 15_000)).toBe(true);
    expect(await waitFor(async () => (await running.pipeline.store.inFlightVisitors()) === 0, 15_000)).toBe(true);
    return running;
  }

  // Adobe documents nothing about a file whose answer was lost: it may be processed after a
  // newer value (P4), so its visitors are read back once a tracked batch has them.
  it('reads back the visitors of a file whose answer was a 502 once their rows completed', async () => {
    const running = await deliveredAfterFirstSubmit(502);
    // The pcId file got the 502; the thirdPartyId file was never posted before the retry.
    const pcIds = ['pc:111.01_00', 'pc:222.02_00'];
    const found = await rechecks(running);
    expect(found.map(([vks]) => vks)).toEqual([pcIds, pcIds]);
    expect(found[0]?.[1]).toBe(running.config.LANDING_AUDIT_DELAY_MS);
    expect(found[1]?.[1]).toBeGreaterThan(24 * 3_600_000);
    expect(await running.pipeline.queues.deadLetter.count()).toBe(0);
  });

  it('reads back nobody after the 503 Adobe documents as the shared limit refusing the call', async () => {
    const running = await deliveredAfterFirstSubmit(503);
    expect(running.simulator.stats.requests.some((q) => q.status === 503)).toBe(true);
    expect(await rechecks(running)).toEqual([]);
  });

  it('marks the claim before its first POST, and clears the mark once the answer is known', async () => {
    const running = await pipelines.start({ DELIVERY_MODE: 'bulk', LANDING_AUDIT_SAMPLE: '0' });
    // The first file's answer comes after 1.5 s: time to read the job while it is posted.
    running.simulator.faults.answerBatchesLate(1, { answerAfterMs: 1500 });
    await mergeBothKinds(running);
    expect(await waitFor(() => running.simulator.stats.bulk + running.simulator.stats.bulkV1 >= 1, 15_000, 10)).toBe(
      true,
    );
    const [posting] = await running.pipeline.queues.deliverBulk.getActive();
    const marks = new PostingMarks(running.pipeline.redis, running.prefix);
    expect(await marks.of(posting?.data.claimId ?? '')).toBeGreaterThan(0);
    expect(await waitFor(delivered(running), 15_000)).toBe(true);
    expect(await waitFor(async () => (await running.pipeline.store.inFlightVisitors()) === 0, 15_000)).toBe(true);
    expect(await marks.of(posting?.data.claimId ?? '')).toBeUndefined();
    // Answered, late but within TARGET_TIMEOUT_MS: nothing is untracked, nobody read back.
    expect(await rechecks(running)).toEqual([]);
  });

  it('counts every visitor of a claim whose run died while posting its files as possibly at Target, untracked', async () => {
    // No deliver role yet: the flusher's claim waits as a deliver-bulk job.
    const running = await pipelines.start({ DELIVERY_MODE: 'bulk', LANDING_AUDIT_SAMPLE: '0' }, [
      'intake',
      'map',
      'flusher',
    ]);
    await mergeBothKinds(running);
    const queue = running.pipeline.queues.deliverBulk;
    expect(await waitFor(async () => (await queue.getWaitingCount()) === 1, 15_000)).toBe(true);
    const [job] = await queue.getWaiting();
    // What a run killed during its POSTs leaves: the mark it writes before the first.
    await new PostingMarks(running.pipeline.redis, running.prefix).set(job?.data.claimId ?? '', Date.now() - 1000);
    const deliver = await startPipeline({
      config: running.config,
      mapping: resolveMapping(undefined, { env: process.env }),
      logger: createLogger({ level: 'silent', pretty: false }),
      roles: ['deliver'],
      targetBaseUrl: running.simulator.url,
    });
    try {
      expect(await waitFor(delivered(running), 15_000)).toBe(true);
      expect(await waitFor(async () => (await running.pipeline.store.inFlightVisitors()) === 0, 15_000)).toBe(true);
      const all = ['3p:CRM-3', 'pc:111.01_00', 'pc:222.02_00'];
      // One recheck per batch (pcId, thirdPartyId) and delay.
      const found = await rechecks(running);
      expect(found.flatMap(([vks]) => vks).sort()).toEqual([...all, ...all].sort());
    } finally {
      await deliver.close();
    }
  });
});
