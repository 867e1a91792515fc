import { describe, expect, it } from 'vitest';
import { runOracleWorkload } from '../harness/oracle-run.js';
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

    expect(result.unexpectedExits, context).toEqual([]);
    expect(result.drained, context).toBe(true);
    expect(result.rejected, context).toBe(0);
    expect(result.accepted + result.intakeDuplicates, context).toBe(result.sent);
    // Resends caught at intake plus those only the merge could catch (sent at the same
    // moment as their first copy) are exactly the resends made.
    expect(result.intakeDuplicates + (result.stats.events_duplicate ?? 0), context).toBe(workload.resends);
    expect(result.stats.events_duplicate ?? 0, context).toBeGreaterThan(0);
    expect(result.lost, context).toBe(0);
    expect(result.deadLetters, context).toBe(0);
    expect(result.failedJobs, context).toBe(0);
    expect(result.leftoverStoreKeys, context).toBe(0);
    expect(result.differences, context).toEqual([]);
    expect(result.overtaking, context).toEqual([]);
  }, 90_000);
});
