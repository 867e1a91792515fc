import { describe, expect, it } from 'vitest';
import { runOracleWorkload, expectOracleHolds } from '../harness/oracle-run.js';
import { Random, buildWorkload, seedFromEnv } from '../harness/workload.js';

const MIN_KILLS = 20;

// P7 (with P2, P3): worker processes die by SIGKILL at random moments while a workload
// flows; each is started again at once. Jobs of a killed process come back through BullMQ's
// stall check (WORKER_LOCK_MS), claims through their lease (CLAIM_LEASE_MS). The seed is
// printed; SEED=<seed> replays the same events and the same kill schedule.
describe('SIGKILL of worker processes while events flow', () => {
  it(`ends with the oracle's profiles after at least ${MIN_KILLS} kills, losing nothing`, async () => {
    const seed = seedFromEnv();
    console.log(`sigkill fault test: seed ${seed}`);
    // Small batches, paced so that the workload flows for about as long as the kills go on.
    const workload = buildWorkload({ seed, events: 3000, visitors: 250, batchSize: 50 });
    const random = new Random(seed ^ 0x5eed);
    let kills = 0;
    const result = await runOracleWorkload({
      workload,
      processes: 3,
      paceMs: 600,
      env: { WORKER_LOCK_MS: '4000' },
      targetLatencyMs: 20,
      drainTimeoutMs: 90_000,
      chaos: async (fleet, producing) => {
        while (producing() || kills < MIN_KILLS) {
          await new Promise((r) => setTimeout(r, random.int(250, 1000)));
          await fleet.killAndRestart(random.int(0, fleet.size - 1));
          kills += 1;
        }
      },
    });
    const context = `seed ${seed}, ${kills} kills: ${JSON.stringify({ ...result, differences: result.differences.length, overtaking: result.overtaking.length })}`;

    console.log(`sigkill fault test: ${context}`);
    expect(kills, context).toBeGreaterThanOrEqual(MIN_KILLS);
    expectOracleHolds(result, workload.resends, context);
  }, 180_000);
});
