import { afterEach, describe, expect, it } from 'vitest';
import type { DeadLetter } from '../../../src/jobs/catalog.js';
import { deletePrefix } from '../../harness/context.js';
import { startTestPipeline, waitFor, type TestPipeline } from '../../harness/pipeline.js';

function letter(i: number, at: number): DeadLetter {
  return {
    stage: 'map',
    source: 'pos',
    events: [{ id: `e-${i}` }],
    error: { class: 'ValidationError', code: 'EVENT_INVALID', message: 'm' },
    attempts: 1,
    firstAttemptAt: at,
    lastAttemptAt: at,
  };
}

describe('dead-letter retention: trimming is counted, never silent', () => {
  let running: TestPipeline | undefined;
  afterEach(async () => {
    if (running === undefined) return;
    await running.close();
    await deletePrefix(running.pipeline.redis, running.prefix).catch(() => undefined);
    running = undefined;
  });

  it('the flusher trims past DEAD_LETTER_MAX_COUNT and DEAD_LETTER_MAX_AGE_MS, oldest first, and counts it apart from the merge outcomes', async () => {
    running = await startTestPipeline({ DEAD_LETTER_MAX_COUNT: '3', DEAD_LETTER_MAX_AGE_MS: '3600000' }, ['flusher']);
    const { queues, store } = running.pipeline;
    const trimmed = (): Promise<number> => running!.pipeline.deadLettersTrimmed();
    // The scheduler's first trim runs as the pipeline starts: stopped here, so only the
    // trims this test asks for run, and the counts below cannot be taken early.
    await queues.flush.removeJobScheduler('trim-dead-letters');
    await queues.flush.drain(true);
    // …and one already running when it was removed finishes before the entries go in.
    const trimRunning = async () =>
      (await queues.flush.getJobs(['active'])).some((job) => job.name === 'trim-dead-letters');
    expect(await waitFor(async () => !(await trimRunning()), 10_000)).toBe(true);
    const now = Date.now();
    // Two entries past the age limit, then five young ones: keeping 3 trims 4 in all.
    for (const i of [0, 1])
      await queues.deadLetter.add('map', letter(i, now - 2 * 3600_000), { timestamp: now - 2 * 3600_000 });
    for (const i of [2, 3, 4, 5, 6]) await queues.deadLetter.add('map', letter(i, now), { timestamp: now + i });
    expect(await trimmed()).toBe(0);

    // The job the 'trim-dead-letters' scheduler adds every minute, run now.
    await queues.flush.add('trim-dead-letters', {});
    expect(await waitFor(async () => (await trimmed()) === 4, 10_000)).toBe(true);
    const left = await queues.deadLetter.getJobs(['waiting'], 0, -1, true);
    expect(left.map((j) => (j.data.events?.[0] as { id: string }).id)).toEqual(['e-4', 'e-5', 'e-6']);

    // Within the limits: nothing more is trimmed, and the counter stays.
    await queues.flush.add('trim-dead-letters', {});
    await new Promise((r) => setTimeout(r, 500));
    expect(await queues.deadLetter.getWaitingCount()).toBe(3);
    expect(await trimmed()).toBe(4);
    // The store's stats hash holds merge outcomes only (ti_store_events{outcome} labels each field).
    expect(Object.keys(await store.stats()).filter((k) => !k.startsWith('events_'))).toEqual([]);

    // Over the count again: the counter adds up.
    await queues.deadLetter.add('map', letter(7, now), { timestamp: now + 7 });
    await queues.flush.add('trim-dead-letters', {});
    expect(await waitFor(async () => (await trimmed()) === 5, 10_000)).toBe(true);
    expect(await queues.deadLetter.getWaitingCount()).toBe(3);
  });
});
