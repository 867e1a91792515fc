import type { Redis } from 'ioredis';
import type { Job } from 'bullmq';
import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import { createProducer } from '../../../src/intake/producer.js';
import { createLogger } from '../../../src/logger.js';
import { ALL_ROLES, type Pipeline, type Role } from '../../../src/pipeline.js';
import { QUEUE_NAMES } from '../../../src/jobs/catalog.js';
import type { Simulator, SimulatorOptions } from '../../../src/simulator/server.js';
import type { BulkStatusSummary } from '../../../src/deliver/bulk-status.js';
import { buildBulkFiles } from '../../harness/bulk-files.js';
import { TargetClient } from '../../../src/target/client.js';
import { deletePrefix, newRedis } from '../../harness/context.js';
import { startTestPipeline, waitFor } from '../../harness/pipeline.js';

interface Running {
  pipeline: Pipeline;
  simulator: Simulator;
  prefix: string;
  /** Parsed JSON log lines of the pipeline. */
  logs: Array<Record<string, unknown>>;
  /** What every finished bulk-status job returned. */
  summaries: BulkStatusSummary[];
}

let redis: Redis;
const running: Running[] = [];

beforeAll(() => {
  redis = newRedis();
});
afterEach(async () => {
  for (const r of running.splice(0)) {
    await r.pipeline.close();
    await r.simulator.close();
    await deletePrefix(redis, r.prefix);
  }
});
afterAll(async () => {
  await redis.quit();
});

/** A bulk-mode pipeline in this process, its logs captured, against a fresh simulator. */
async function start(
  env: Record<string, string>,
  simulatorOptions: Partial<SimulatorOptions> = {},
  roles: readonly Role[] = ALL_ROLES,
): Promise<Running> {
  const logs: Array<Record<string, unknown>> = [];
  const destination = { write: (line: string): void => void logs.push(JSON.parse(line) as Record<string, unknown>) };
  const { pipeline, simulator, prefix } = await startTestPipeline(
    {
      DELIVERY_MODE: 'bulk',
      // One visitor per claim, and a claim is a full file: nothing waits for the bulk pacer.
      FLUSH_BULK_BATCH_SIZE: '1',
      COALESCE_WINDOW_MS: '100',
      COALESCE_MAX_WAIT_MS: '500',
      LOG_LEVEL: 'info',
      ...env,
    },
    roles,
    simulatorOptions,
    createLogger({ level: 'info', pretty: false, destination }),
  );
  const summaries: BulkStatusSummary[] = [];
  pipeline.workers
    .get(QUEUE_NAMES.bulkStatus)
    ?.on('completed', (_job: Job, result: unknown) => summaries.push(result as BulkStatusSummary));
  const r = { pipeline, simulator, prefix, logs, summaries };
  running.push(r);
  return r;
}

/** One call-centre event per visitor; a plain string is an mbox3rdPartyId. */
async function send(r: Running, visitors: Array<string | { mboxPC: string }>): Promise<void> {
  const producer = createProducer({ connection: redis, prefix: r.prefix, source: 'test' });
  const events = visitors.map((visitor, i) => ({
    id: `e-${i}`,
    type: 'call_centre_contact',
    occurredAt: '2026-11-21T10:00:00Z',
    visitor: typeof visitor === 'string' ? { mbox3rdPartyId: visitor } : visitor,
    data: { reason: `reason ${i}`, outcome: 'solved' },
  }));
  expect((await producer.sendMany(events)).accepted).toBe(visitors.length);
  await producer.close();
}

const statusCalls = (sim: Simulator, status: number): number =>
  sim.stats.requests.filter((q) => q.path.endsWith('/profile/batchStatus') && q.status === status).length;

describe('bulk batch status polling', () => {
  it('dead-letters a batch still stuck after BULK_MAX_RESUBMITS resubmissions (BULK_BATCH_STUCK)', async () => {
    // Polls capped at 500 ms: `stuck` shows once a batch is processed (2 s), and how the
    // delays grow is another test's subject; uncapped they reach 1.6 s before it is read.
    const r = await start({ BULK_MAX_RESUBMITS: '1', BULK_STATUS_POLL_MS: '100', BULK_STATUS_MAX_POLL_MS: '500' });
    r.simulator.faults.stickNextBatches(2);
    await send(r, ['CRM-STUCK']);
    expect(await waitFor(async () => (await r.pipeline.queues.deadLetter.count()) === 1, 20_000)).toBe(true);
    const [letter] = (
      await r.pipeline.queues.deadLetter.getJobs(['waiting', 'delayed', 'completed', 'failed', 'active'])
    ).map((j) => j.data);
    expect(letter).toMatchObject({ stage: 'bulk-status', error: { code: 'BULK_BATCH_STUCK' } });
    expect(letter?.visitors?.map((v) => v.vk)).toEqual(['3p:CRM-STUCK']);
    expect(letter?.visitors?.[0]?.attributes.callCentreLastReason?.value).toBe('reason 0');
    // The first file and one resubmission; never a third.
    expect(r.simulator.stats.bulk).toBe(2);
    expect(r.simulator.store.get('thirdPartyId', 'CRM-STUCK')).toBeUndefined();
    expect(await waitFor(() => r.summaries.length === 1)).toBe(true);
    expect(r.summaries[0]).toMatchObject({ resubmitted: 1, deadLettered: 1, complete: 0, acked: 0, pending: 0 });
    expect(await waitFor(async () => (await r.pipeline.store.inFlightVisitors()) === 0)).toBe(true);
  });

  // Adobe does not say how long statuses are kept or what an unknown id answers: a 404 is
  // not proof the batch is lost, and resubmitting it would spend calls for nothing.
  it('keeps polling a batch whose status answers 404 for a while, and never resubmits it', async () => {
    const r = await start({ BULK_STATUS_POLL_MS: '100', BULK_STATUS_MAX_POLL_MS: '200' });
    r.simulator.faults.failNext(3, 404, { endpoint: 'status' });
    await send(r, ['CRM-UNKNOWN-ID']);
    expect(await waitFor(() => r.summaries.length === 1, 20_000)).toBe(true);
    expect(statusCalls(r.simulator, 404)).toBe(3);
    expect(r.simulator.stats.bulk).toBe(1);
    expect(r.summaries[0]).toMatchObject({ resubmitted: 0, complete: 1, acked: 1, deadLettered: 0, pending: 0 });
    // Said once, not once per poll.
    expect(
      r.logs.filter(
        (l) =>
          l.msg === 'bulk batch status unreadable: polling again (the batch is held, not resubmitted)' &&
          l.status === 404,
      ),
    ).toHaveLength(1);
    expect(r.simulator.store.get('thirdPartyId', 'CRM-UNKNOWN-ID')?.callCentreLastReason).toBe('reason 0');
    expect(await r.pipeline.queues.deadLetter.count()).toBe(0);
  });

  it('holds a batch whose status host is down (P10), resubmits it after each BULK_STATUS_GIVE_UP_MS, dead-letters nothing, and reads the visitor back (the first files may still land)', async () => {
    // The status host stays down past two give-up times: BULK_MAX_RESUBMITS (for `stuck`)
    // must not turn the second resubmit into a dead letter. Batches take 1 s (half the
    // simulator's default, so that two give-up times pass sooner), under the give-up time,
    // so the last one completes once the host is back.
    const r = await start(
      {
        BULK_STATUS_POLL_MS: '100',
        BULK_STATUS_MAX_POLL_MS: '250',
        BULK_STATUS_GIVE_UP_MS: '1500',
        BULK_MAX_RESUBMITS: '1',
        LANDING_AUDIT_SAMPLE: '0',
        LANDING_AUDIT_DELAY_MS: '3600000',
      },
      { batchProcessingMs: 1000 },
    );
    // 502: the status host is down (a 503 would be the shared limit, which pauses all bulk calls).
    r.simulator.faults.outage(502, { endpoint: 'status' });
    await send(r, ['CRM-HELD']);
    // Polled again and again while down, never resubmitted before the give-up time.
    expect(await waitFor(() => statusCalls(r.simulator, 502) >= 4, 10_000, 20)).toBe(true);
    expect(r.simulator.stats.bulk).toBe(1);
    expect(await waitFor(() => r.simulator.stats.bulk === 3, 10_000, 20)).toBe(true);
    expect(await r.pipeline.queues.deadLetter.count()).toBe(0);
    r.simulator.faults.clearOutages('status');
    expect(await waitFor(() => r.summaries.length === 1, 20_000)).toBe(true);
    expect(r.summaries[0]).toMatchObject({ deadLettered: 0, pending: 0 });
    expect(r.summaries[0]?.resubmitted).toBeGreaterThanOrEqual(2);
    expect(
      r.logs.some((l) => l.msg === 'bulk batch not complete within the give-up time: submitting its rows again'),
    ).toBe(true);
    expect(await r.pipeline.queues.deadLetter.count()).toBe(0);
    expect(await waitFor(async () => (await r.pipeline.store.inFlightVisitors()) === 0)).toBe(true);
    // The files given up on are at Target, untracked, and may apply their values after newer
    // ones (P4): with no sampling, the visitor is read back strictly after LANDING_AUDIT_DELAY_MS,
    // and again once Adobe's 24 hours (and an hour's margin) since the last of them have passed.
    const checks = await r.pipeline.queues.landingAudit.getDelayed();
    expect(checks.map((j) => ('recheck' in j.data ? j.data.recheck : j.data))).toEqual([
      ['3p:CRM-HELD'],
      ['3p:CRM-HELD'],
    ]);
    const delays = checks.map((j) => j.opts.delay ?? NaN).sort((a, b) => a - b);
    expect(delays[0]).toBe(3_600_000);
    expect(delays[1]).toBeGreaterThan(25 * 3_600_000 - 60_000);
    expect(delays[1]).toBeLessThanOrEqual(25 * 3_600_000);
  });

  it('polls an incomplete batch again with growing delays; a row Target lists as failed goes again, then to dead letters with the batch id', async () => {
    const r = await start(
      {
        BULK_STATUS_POLL_MS: '100',
        BULK_STATUS_MAX_POLL_MS: '60000',
        DELIVERY_MAX_ATTEMPTS: '2',
        RETRY_BASE_MS: '100',
      },
      { batchProcessingMs: 2500 },
    );
    // Target refuses one visitor's row: the batch completes with failedUpdates = 1 and names it.
    r.simulator.faults.rejectVisitor('CRM-FAILS');
    await send(r, ['CRM-LANDS', 'CRM-FAILS']);

    // The delay each postponed poll was given, by the number of polls made so far.
    const delays = new Map<number, number>();
    let jobId: string | undefined;
    const sampled = waitFor(
      async () => {
        if (jobId === undefined) jobId = (await r.pipeline.queues.bulkStatus.getDelayed())[0]?.id;
        if (jobId === undefined) return false;
        const queue = r.pipeline.queues.bulkStatus;
        const before = await queue.getJobState(jobId);
        const job = await queue.getJob(jobId);
        // Done: removed, or kept as completed (completed jobs stay a while, src/jobs/catalog.ts).
        if (job === undefined || before === 'completed') return true;
        const polls = job.data.batches[0]?.polls ?? 0;
        // BullMQ clears `delay` when it promotes the job, so only a read of a job delayed
        // both before and after it was read counts (a read in between may catch the job
        // while it runs); the last such read per poll is the delay that poll was given.
        if (polls > 0 && before === 'delayed' && (await queue.getJobState(jobId)) === 'delayed')
          delays.set(polls, job.delay);
        return false;
      },
      20_000,
      10,
    );
    expect(await sampled).toBe(true);
    expect(await waitFor(() => r.summaries.length === 2, 30_000)).toBe(true);

    const series = [...delays].sort(([a], [b]) => a - b).map(([, delay]) => delay);
    expect(series.length, `delays ${series.join(', ')}`).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < series.length; i += 1)
      expect(series[i], `delays ${series.join(', ')}`).toBeGreaterThanOrEqual(series[i - 1] ?? 0);
    expect(series.at(-1), `delays ${series.join(', ')}`).toBeGreaterThan((series[0] ?? 0) * 2);

    // The counts reached the summaries although every job was postponed several times.
    const total = (field: keyof BulkStatusSummary): number => r.summaries.reduce((n, s) => n + s[field], 0);
    // Each visitor's own claim, then the failed row once more (DELIVERY_MAX_ATTEMPTS=2).
    expect(r.simulator.stats.bulk).toBe(3);
    expect(total('complete')).toBe(3);
    expect(total('batchSize')).toBe(3);
    expect(total('successfulUpdates')).toBe(1);
    expect(total('failedUpdates')).toBe(2);
    expect(total('failedRowsRetried')).toBe(1);
    expect(total('failedUnnamed')).toBe(0);
    expect(total('deadLettered')).toBe(1);
    expect(total('acked')).toBe(1);
    for (const s of r.summaries) expect(s.polls).toBeGreaterThanOrEqual(3);
    const warned = r.logs.filter((l) => l.msg === 'bulk batch complete with failed rows or profiles not found');
    expect(warned).toHaveLength(2);
    expect(warned[0]).toMatchObject({
      level: 40,
      batchSize: 1,
      successfulUpdates: 0,
      failedUpdates: 1,
      failedListed: 1,
      profilesNotFound: 0,
    });
    const [letter] = (await r.pipeline.queues.deadLetter.getJobs(['waiting'])).map((j) => j.data);
    expect(letter).toMatchObject({ stage: 'bulk-status', error: { code: 'BULK_ROW_FAILED' } });
    expect(letter?.error.message).toMatch(/rows of bulk batch acme-\d+-\d+ as failed, 2 times/);
    expect(letter?.visitors?.map((v) => v.vk)).toEqual(['3p:CRM-FAILS']);
    expect(letter?.visitors?.[0]?.attributes.callCentreLastReason?.value).toBe('reason 1');
    expect(r.simulator.store.get('thirdPartyId', 'CRM-LANDS')?.callCentreLastOutcome).toBe('solved');
    expect(r.simulator.store.get('thirdPartyId', 'CRM-FAILS')).toBeUndefined();
    expect(await waitFor(async () => (await r.pipeline.store.inFlightVisitors()) === 0)).toBe(true);
  });

  it('acks rows Target counts as failed without naming them, and says so loudly', async () => {
    const r = await start({ BULK_STATUS_POLL_MS: '200' }, { listFailedRows: false });
    r.simulator.faults.rejectVisitor('CRM-UNNAMED');
    await send(r, ['CRM-UNNAMED']);
    expect(await waitFor(() => r.summaries.length === 1, 20_000)).toBe(true);
    expect(r.summaries[0]).toMatchObject({
      complete: 1,
      failedUpdates: 1,
      failedUnnamed: 1,
      acked: 1,
      deadLettered: 0,
    });
    expect(
      r.logs.filter(
        (l) =>
          l.msg ===
          'bulk batch complete, but Target counts failed rows it does not name: those visitors may not have landed',
      ),
    ).toMatchObject([{ level: 50, failedUnnamed: 1 }]);
    expect(r.simulator.stats.bulk).toBe(1);
  });

  it('keeps the counts of a batch that completed in an earlier run than the rest of its claim', async () => {
    // No flusher: the test makes one claim holding an mboxPC and a thirdPartyId visitor, so
    // the claim has two files and one status job polls both.
    // DELIVERY_MAX_ATTEMPTS=1: the failed row is dead-lettered at once, not sent again.
    // Polls capped at 500 ms, as in the stuck test above: `stuck` is read soon after 2 s.
    const r = await start(
      { BULK_STATUS_POLL_MS: '100', BULK_STATUS_MAX_POLL_MS: '500', DELIVERY_MAX_ATTEMPTS: '1' },
      {},
      ['map', 'deliver'],
    );
    r.simulator.faults.stickNextBatches(1); // the pcId file goes first and gets stuck
    r.simulator.faults.rejectVisitor('CRM-FAILS');
    await send(r, [{ mboxPC: 'pc-1.01_00' }, 'CRM-FAILS']);
    const claimId = 'claim-two-files';
    const claimed: string[] = [];
    expect(
      await waitFor(async () => {
        claimed.push(...(await r.pipeline.store.claimDue(claimId, 10)));
        return claimed.length === 2;
      }, 10_000),
    ).toBe(true);
    await r.pipeline.queues.deliverBulk.add('deliver', { claimId, visitors: claimed }, { jobId: claimId });

    expect(await waitFor(() => r.summaries.length === 1, 20_000)).toBe(true);
    // The thirdPartyId batch completed while the pcId one was resubmitted; its counts survived
    // the postponed runs that followed.
    expect(r.summaries[0]).toMatchObject({
      complete: 2,
      resubmitted: 1,
      acked: 1,
      deadLettered: 1,
      batchSize: 2,
      successfulUpdates: 1,
      failedUpdates: 1,
      profilesNotFound: 0,
      pending: 0,
    });
    expect(r.simulator.store.get('pcId', 'pc-1.01_00')?.callCentreLastReason).toBe('reason 0');
    expect(r.logs.filter((l) => l.msg === 'bulk batch complete with failed rows or profiles not found')).toMatchObject([
      { failedUpdates: 1, failedListed: 1 },
    ]);
  });

  // The same rows posted twice (a failing submit, then the retry) are two batches at Target:
  // acking at the first `complete` would let newer values go out while the other copy can
  // still land after them (P4).
  it('acks a visitor only once every batch carrying it is complete', async () => {
    const r = await start({ BULK_STATUS_POLL_MS: '200', BULK_STATUS_MAX_POLL_MS: '300' }, {}, ['map', 'deliver']);
    await send(r, ['CRM-TWICE']);
    const claimId = 'claim-twice';
    const claimed: string[] = [];
    expect(
      await waitFor(async () => {
        claimed.push(...(await r.pipeline.store.claimDue(claimId, 10)));
        return claimed.length === 1;
      }, 10_000),
    ).toBe(true);
    // What deliver-bulk would post, posted twice: the second batch takes much longer.
    const [snapshot] = await r.pipeline.store.snapshot(claimId, claimed, Date.now(), { freeze: true });
    const client = new TargetClient({ baseUrl: r.simulator.url, clientCode: 'acme', timeoutMs: 2000 });
    const file = buildBulkFiles([
      {
        visitor: { kind: 'thirdPartyId', id: 'CRM-TWICE' },
        values: new Map([...(snapshot?.attributes ?? [])].map(([name, u]) => [name, u.value])),
      },
    ])[0];
    r.simulator.faults.slowBatches({ processingMs: 300 });
    const first = await client.submitBulk(file?.body ?? '');
    r.simulator.faults.slowBatches({ processingMs: 4000 });
    const second = await client.submitBulk(file?.body ?? '');
    await client.close();
    const batch = (statusUrl: string) => ({
      statusUrl,
      visitors: claimed,
      submittedAt: Date.now(),
      polls: 0,
      resubmits: 0,
    });
    await r.pipeline.queues.bulkStatus.add(
      'poll',
      { claimId, batches: [batch(first), batch(second)] },
      { jobId: claimId, delay: 200 },
    );
    // The first copy completes and is polled; the visitor stays held behind the second.
    expect(await waitFor(() => r.logs.some((l) => l.msg === 'bulk batch complete'), 5000)).toBe(true);
    expect(await r.pipeline.store.inFlightVisitors()).toBe(1);
    expect(await waitFor(() => r.summaries.length === 1, 15_000)).toBe(true);
    expect(r.summaries[0]).toMatchObject({ complete: 2, acked: 1, pending: 0 });
    expect(await r.pipeline.store.inFlightVisitors()).toBe(0);
  });

  it('refuses a status link on a foreign host without sending the token, holds the batch (no call, no budget), and resubmits only after the give-up time', async () => {
    const r = await start(
      { BULK_STATUS_POLL_MS: '100', BULK_STATUS_MAX_POLL_MS: '200', BULK_STATUS_GIVE_UP_MS: '3000' },
      { statusLink: 'self', publicUrl: 'http://collector.example' },
    );
    await send(r, ['CRM-FOREIGN']);
    expect(await waitFor(() => r.simulator.stats.bulk === 1, 10_000, 20)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    // Polled several times by now, but nothing sent anywhere and no bulk call spent on it.
    expect(r.simulator.stats.bulk).toBe(1);
    expect(statusCalls(r.simulator, 200)).toBe(0);
    expect((await r.pipeline.budgets.bulk.peek()).used).toBe(1);
    const refused = r.logs.filter(
      (l) =>
        l.msg ===
        'bulk batch status link refused: the batch is held until the give-up time (BULK_STATUS_GIVE_UP_MS), then its rows are submitted again',
    );
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ level: 50, code: 'BULK_STATUS_LINK_REFUSED' });
    expect(String(refused[0]?.reason)).toMatch(/collector\.example/);
    // After the give-up time the rows go again (and are held again: the link stays foreign).
    expect(await waitFor(() => r.simulator.stats.bulk === 2, 10_000, 50)).toBe(true);
    expect(await r.pipeline.queues.deadLetter.count()).toBe(0);
    expect(await r.pipeline.store.inFlightVisitors()).toBe(1);
  });
});
