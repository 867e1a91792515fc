import { describe, expect, it } from 'vitest';
import { runOracleWorkload, expectOracleHolds } from '../harness/oracle-run.js';
import { buildWorkload, seedFromEnv } from '../harness/workload.js';

// P2, P3: any number of worker processes on one Redis end with the oracle's profiles.
// A failure prints the seed; run again with SEED=<seed> to get the same events.
describe.each([1, 2, 4])('the pipeline as %i worker process(es) (dist/workers/worker.js)', (processes) => {
  it('ends with the profiles of the oracle, loses nothing and counts every resend once', async () => {
    const seed = seedFromEnv();
    const workload = buildWorkload({ seed, events: 3000, visitors: 250, batchSize: 100 });
    // Paced, so deliveries happen between batches and older events then arrive late.
    const result = await runOracleWorkload({ workload, processes, paceMs: 150 });
    const context = `seed ${seed}, ${processes} process(es): ${JSON.stringify({ ...result, differences: result.differences.length, overtaking: result.overtaking.length })}`;

    expectOracleHolds(result, workload.resends, context);
    expect(result.stats.events_duplicate ?? 0, context).toBeGreaterThan(0);
  }, 90_000);
});
