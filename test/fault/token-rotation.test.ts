import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it, describe } from 'vitest';
import { FirstPollEstimate } from '../../src/deliver/first-poll.js';
import { waitFor } from '../harness/pipeline.js';
import { expectNothingLost, faultOutcome } from './fault-checks.js';
import { faultPipelinePerTest } from './fault-pipeline.js';
import { workload } from './fault-workload.js';

const TOKEN = 'profile-token-0123456789abcdef';

// A new profile token reaches every process without a restart (P10): each run ends with
// Target equal to the oracle, nothing lost, no dead letter.
describe('a rotated or expired profile token: held, then delivered with the new one', () => {
  const pipelines = faultPipelinePerTest();

  it('holds while the token is regenerated at Target, and resumes when the new one is written into TARGET_AUTH_TOKEN_FILE 15 s later', async () => {
    const file = join(pipelines.dir(), 'token');
    writeFileSync(file, `${TOKEN}\n`);
    const running = await pipelines.start(
      { DELIVERY_MODE: 'auto', BULK_THRESHOLD: '30', TARGET_AUTH_TOKEN_FILE: file },
      undefined,
      { authToken: TOKEN },
    );
    const sim = running.simulator;
    const first = workload(40, 1, 'f');
    let accepted = await pipelines.send(first);
    expect(await waitFor(() => sim.store.size === 40)).toBe(true);
    const regenerated = sim.token.regenerate();
    const later = workload(60, 2, 'g');
    accepted += await pipelines.send(later);
    expect(await waitFor(async () => (await running.pipeline.credentialsHold()) !== undefined, 10_000)).toBe(true);
    // Held through several refused probes (2 s apart at first, doubling: src/deliver/credentials-hold.ts).
    await new Promise((r) => setTimeout(r, 15_000));
    expect(await running.pipeline.queues.deadLetter.count()).toBe(0);
    writeFileSync(file, `${regenerated}\n`);
    expectNothingLost(
      await faultOutcome({
        redis: pipelines.redis(),
        prefix: running.prefix,
        accepted,
        events: [...first, ...later],
        landed: () => sim.store.all(),
      }),
      'token regenerated, then written to the file',
    );
    expect(await running.pipeline.credentialsHold()).toBeUndefined();
    // A batch read `complete` only once the hold lifted did not teach the first status poll
    // the hold (src/deliver/first-poll.ts): the simulator's batches take 2 s, the hold 15 s.
    const firstPoll = new FirstPollEstimate(running.pipeline.redis, running.prefix, {
      initialMs: 0,
      minMs: 0,
      maxMs: Infinity,
    });
    expect(await firstPoll.current()).toBeLessThan(10_000);
  }, 60_000);

  it('renews a token that expires mid-run through the Admin API (TARGET_TOKEN_REGENERATE), nothing dead-lettered', async () => {
    const running = await pipelines.start(
      {
        DELIVERY_MODE: 'single',
        TARGET_IMS_CLIENT_ID: 'target-ingest-simulator',
        TARGET_IMS_CLIENT_SECRET: 'simulator-client-secret',
        TARGET_IMS_URL: '$SIMULATOR/ims/token/v3',
        TARGET_ADMIN_URL: '$SIMULATOR',
        TARGET_TOKEN_REGENERATE: 'true',
        TARGET_TOKEN_REGENERATE_BEFORE_MS: '2000',
      },
      undefined,
      { authToken: TOKEN, tokenLifetimeMs: 8000 },
    );
    const started = Date.now();
    const sim = running.simulator;
    const first = workload(20, 1, 'h');
    let accepted = await pipelines.send(first);
    expect(await waitFor(() => sim.store.size === 20)).toBe(true);
    // The token runs out (8 s after the simulator started); then more events arrive.
    await new Promise((r) => setTimeout(r, Math.max(0, started + 8500 - Date.now())));
    const later = workload(20, 2, 'i');
    accepted += await pipelines.send(later);
    expectNothingLost(
      await faultOutcome({
        redis: pipelines.redis(),
        prefix: running.prefix,
        accepted,
        events: [...first, ...later],
        landed: () => sim.store.all(),
        drainTimeoutMs: 40_000,
      }),
      'token expired, renewed through the Admin API',
    );
    expect(sim.token.current).not.toBe(TOKEN);
  }, 60_000);
});
