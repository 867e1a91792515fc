import { expect, it, describe } from 'vitest';
import { waitFor } from '../harness/pipeline.js';
import { expectNothingLost, faultOutcome } from './fault-checks.js';
import { faultPipelinePerTest } from './fault-pipeline.js';
import { workload } from './fault-workload.js';

const TOKEN = 'profile-token-0123456789abcdef';

// P10: a credential or quota problem holds data; it never dead-letters it. Each run ends
// with Target equal to the oracle, nothing lost, no dead letter.
describe('credentials refused and the shared bulk limit: held, never dropped', () => {
  const pipelines = faultPipelinePerTest();

  it('holds every delivery while Target refuses a regenerated token, spends no budget, and resumes when it accepts it again', async () => {
    const running = await pipelines.start({ DELIVERY_MODE: 'single', TARGET_AUTH_TOKEN: TOKEN }, undefined, {
      authToken: TOKEN,
    });
    const sim = running.simulator;
    const first = workload(20, 1, 'a');
    let accepted = await pipelines.send(first);
    expect(await waitFor(() => sim.store.size === 20)).toBe(true);

    // Someone with Approver rights regenerates the token in Target's UI.
    sim.token.regenerate();
    const later = workload(40, 2, 'b');
    accepted += await pipelines.send(later);
    expect(await waitFor(async () => (await running.pipeline.credentialsHold()) !== undefined, 10_000)).toBe(true);
    const hold = await running.pipeline.credentialsHold();
    expect(hold).toMatchObject({ status: 401 });
    // Held: values stay in the store, no dead letter, and no call is made past the first refusals.
    await new Promise((r) => setTimeout(r, 1500));
    const refusedCalls = sim.stats.byStatus[401] ?? 0;
    const singleBudget = (await running.pipeline.budgets.single.peek()).used;
    await new Promise((r) => setTimeout(r, 2000));
    expect(
      sim.stats.requests.filter((q) => q.status === 401 && !q.path.startsWith('/rest/')).length,
    ).toBeLessThanOrEqual(refusedCalls);
    expect((await running.pipeline.budgets.single.peek()).used).toBe(singleBudget);
    expect(await running.pipeline.queues.deadLetter.count()).toBe(0);
    const backlog = await running.pipeline.store.backlog();
    expect(backlog.pending + backlog.inFlight).toBeGreaterThan(0);

    // Target takes the token again (here: the old one set back); the probe sees it and the hold lifts.
    sim.token.set(TOKEN);
    expectNothingLost(
      await faultOutcome({
        redis: pipelines.redis(),
        prefix: running.prefix,
        accepted,
        events: [...first, ...later],
        landed: () => sim.store.all(),
      }),
      'token refused, then accepted',
    );
    expect(await running.pipeline.credentialsHold()).toBeUndefined();
  });

  it('rides out a 403 storm that ends by itself', async () => {
    const running = await pipelines.start(
      {
        LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
        DELIVERY_MODE: 'auto',
        BULK_THRESHOLD: '30',
        TARGET_AUTH_TOKEN: TOKEN,
      },
      undefined,
      { authToken: TOKEN },
    );
    const sim = running.simulator;
    // Six seconds of 403 on every update and status call (not on the Fetch Profile API the
    // probe uses, so the hold lifts and is refused again until the storm is over).
    sim.faults.outageWindow({ status: 403, durationMs: 6000 });
    const events = workload(80, 2, 'c');
    const accepted = await pipelines.send(events);
    expectNothingLost(
      await faultOutcome({
        redis: pipelines.redis(),
        prefix: running.prefix,
        accepted,
        events,
        landed: () => sim.store.all(),
        drainTimeoutMs: 60_000,
      }),
      '403 storm',
    );
    expect(sim.stats.byStatus[403] ?? 0).toBeGreaterThan(0);
    expect(await running.pipeline.credentialsHold()).toBeUndefined();
  });

  // The 50 calls a minute are the account's, shared with every Admin and Reporting API

  // user. Scaled: a 3 s window stands for the minute on both sides.

  it('shares the bulk limit with another user taking 20 of the 50 calls: pauses on 503, never dead-letters', async () => {
    const running = await pipelines.start(
      {
        DELIVERY_MODE: 'bulk',
        FLUSH_BULK_BATCH_SIZE: '10',
        BULK_CALLS_PER_MINUTE: '35',
        BULK_CALLS_WINDOW_MS: '3000',
        BULK_STATUS_POLL_MS: '200',
        BULK_STATUS_MAX_POLL_MS: '400',
        CLAIM_LEASE_MS: '6000',
        TARGET_TIMEOUT_MS: '2000',
      },
      undefined,
      { bulkCallsPerMinute: 50, bulkRateWindowMs: 3000, batchProcessingMs: 300 },
    );
    const sim = running.simulator;
    // 20 a window for 12 windows: "several minutes" at this scale.
    sim.faults.otherUsers({ callsPerMinute: 20, durationMs: 36_000 });
    const events = workload(300, 1, 'd');
    const accepted = await pipelines.send(events);
    expect(await waitFor(() => (sim.stats.byStatus[503] ?? 0) > 0, 20_000)).toBe(true);
    expect(
      await waitFor(
        async () => ((await running.pipeline.budgets.bulk.peek())?.pausedForMs ?? 0) > 0 || sim.store.size === 300,
        10_000,
        20,
      ),
    ).toBe(true);
    expectNothingLost(
      await faultOutcome({
        redis: pipelines.redis(),
        prefix: running.prefix,
        accepted,
        events,
        landed: () => sim.store.all(),
        drainTimeoutMs: 90_000,
      }),
      'shared bulk limit',
    );
  });
});
