import { Queue } from 'bullmq';
import { expect } from 'vitest';
import { VisitorStore } from '../../src/coalesce/store.js';
import type { Producer } from '../../src/intake/producer.js';
import { QUEUE_NAMES, bullPrefix } from '../../src/jobs/catalog.js';
import type { RedisClient } from '../../src/redis/connection.js';
import type { RunningProcess } from '../harness/spawn-process.js';
import { isPipelineIdle, openWorkQueues } from '../harness/drain.js';
import { diffProfiles, oracleProfiles, type Profiles } from '../harness/oracle.js';
import { waitFor } from '../harness/pipeline.js';

/** A producer that also counts what Redis took in: `accepted` copies, as intake answered. */
export interface CountingProducer {
  sendMany(events: readonly unknown[]): Promise<void>;
  readonly accepted: number;
}

export function countAccepted(producer: Producer): CountingProducer {
  let accepted = 0;
  return {
    async sendMany(events) {
      const summary = await producer.sendMany(events);
      expect(summary.rejected, 'the workload is valid').toEqual([]);
      accepted += summary.accepted;
    },
    get accepted() {
      return accepted;
    },
  };
}

/** How a fault run ended, from Redis and Target alone. */
export interface FaultOutcome {
  /** Accepted copies the merge never accounted for: accepted − (applied + superseded + late + duplicate). */
  lost: number;
  stats: Record<string, number>;
  /** Oracle vs Target, one line per difference (empty: equal). */
  differences: string[];
  deadLetters: number;
  failedJobs: number;
  drained: boolean;
}

export interface FaultOutcomeInput {
  redis: RedisClient;
  prefix: string;
  accepted: number;
  /** Every event sent (resends included; each id counts once in the oracle). */
  events: readonly unknown[];
  /** What Target holds now (`simulator.store.all()`), read after draining. */
  landed: () => Profiles;
  drainTimeoutMs?: number;
}

/**
 * Waits (bounded) until the pipeline is idle and Target equals the oracle, then reads the
 * merge's counters, the dead letters and the failed jobs under `prefix`.
 */
export async function faultOutcome(input: FaultOutcomeInput): Promise<FaultOutcome> {
  const { redis, prefix } = input;
  const expected = oracleProfiles(input.events);
  const queues = openWorkQueues(redis, prefix);
  const deadLetterQueue = new Queue(QUEUE_NAMES.deadLetter, { connection: redis, prefix: bullPrefix(prefix) });
  try {
    const idle = () => isPipelineIdle(redis, prefix, queues);
    // Twice in a row, so a hand-over between two stages is not taken for the end.
    const drained = await waitFor(
      async () => diffProfiles(expected, input.landed()).length === 0 && (await idle()) && (await idle()),
      input.drainTimeoutMs ?? 30_000,
      200,
    );
    const store = new VisitorStore(redis, {
      prefix,
      coalesceWindowMs: 100,
      dedupeWindowMs: 60_000,
      deliveredRetentionMs: 60_000,
      leaseMs: 2000,
    });
    const stats = await store.stats();
    const merged =
      (stats.events_applied ?? 0) +
      (stats.events_superseded ?? 0) +
      (stats.events_late_dropped ?? 0) +
      (stats.events_duplicate ?? 0);
    let failedJobs = 0;
    for (const queue of queues) failedJobs += await queue.getFailedCount();
    const deadLetters = Object.values(await deadLetterQueue.getJobCounts()).reduce((a, b) => a + b, 0);
    return {
      lost: input.accepted - merged,
      stats,
      differences: diffProfiles(expected, input.landed()),
      deadLetters,
      failedJobs,
      drained,
    };
  } finally {
    await Promise.all([...queues, deadLetterQueue].map((q) => q.close()));
  }
}

/** Final profiles equal the oracle, lost = 0, and no dead letters or failed jobs. */
export function expectNothingLost(outcome: FaultOutcome, context: string): void {
  expect(outcome.differences, context).toEqual([]);
  expect(outcome.drained, context).toBe(true);
  expect(outcome.lost, `${context}; merge stats ${JSON.stringify(outcome.stats)}`).toBe(0);
  expect(outcome.deadLetters, context).toBe(0);
  expect(outcome.failedJobs, context).toBe(0);
}

/** The exit code, once every line the process wrote was read ('exit' can come before the last output). */
export async function exitedWithOutput(proc: RunningProcess): Promise<number | string> {
  const code = await proc.exited;
  await Promise.all(
    [proc.child.stdout, proc.child.stderr].map(
      (stream) =>
        new Promise<void>((resolve) => {
          if (stream === null || stream.closed) resolve();
          else stream.once('close', () => resolve());
        }),
    ),
  );
  return code;
}
