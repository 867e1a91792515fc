import { expect } from 'vitest';
import { Queue } from 'bullmq';
import { VisitorStore } from '../../src/coalesce/store.js';
import { createProducer } from '../../src/intake/producer.js';
import { QUEUE_NAMES, bullPrefix } from '../../src/jobs/catalog.js';
import { connectRedis, type RedisClient } from '../../src/redis/connection.js';
import { profileKey } from '../../src/simulator/index.js';
import { startSimulator } from '../../src/simulator/server.js';
import { deletePrefix, redisUrl, scanKeys, uniquePrefix } from './context.js';
import { isPipelineIdle, openWorkQueues, pipelineBacklog } from './drain.js';
import { diffProfiles, findOvertaking, oracleProfiles, type AppliedWrite } from './oracle.js';
import { waitFor } from './pipeline.js';
import { WorkerFleet } from './worker-fleet.js';
import type { Workload } from './workload.js';
import { NO_ROW_LOSS } from './no-row-loss.js';

/** Settings for worker processes in oracle runs: short windows, so a run takes seconds. */
export const FAST_PIPELINE_ENV: Record<string, string> = {
  COALESCE_WINDOW_MS: '100',
  COALESCE_MAX_WAIT_MS: '1000',
  FLUSH_INTERVAL_MS: '50',
  TARGET_TIMEOUT_MS: '1000',
  CLAIM_LEASE_MS: '2000',
  BULK_STATUS_POLL_MS: '200',
  // The documented budget (50 bulk calls a minute) over a 10 s window: a run that spends it
  // waits at most 10 s for room, not a minute (the budget itself is tested on its own).
  BULK_CALLS_WINDOW_MS: '10000',
  LOG_LEVEL: 'warn',
};

export interface OracleRunOptions {
  workload: Workload;
  processes: number;
  /** Extra environment for the worker processes. */
  env?: Record<string, string>;
  /** Pause between groups of batches, so the workload flows over time. Default 0. */
  paceMs?: number;
  /** Runs alongside the producer (e.g. killing processes); awaited before draining. */
  chaos?: (fleet: WorkerFleet, producing: () => boolean) => Promise<void>;
  /** How long draining may take once everything was sent. Default 60 s. */
  drainTimeoutMs?: number;
  /** Added latency of every Target call, so more work is under way when something dies. */
  targetLatencyMs?: number;
  /** Another Redis than the run's: a cluster's seeds (REDIS_URL) with REDIS_CLUSTER=true. */
  redis?: { url: string; cluster: boolean };
  /** REDIS_SHARDS of the pipeline. Default 1. */
  shards?: number;
  /** Called with the run's connection and prefix once every worker listens, before producing. */
  beforeProducing?: (redis: RedisClient, prefix: string) => Promise<void>;
}

/** What a run ends with; the test asserts on it. */
export interface OracleRunResult {
  sent: number;
  accepted: number;
  intakeDuplicates: number;
  rejected: number;
  stats: Record<string, number>;
  /** Accepted copies the merge never accounted for: accepted − (applied + superseded + late + duplicate). */
  lost: number;
  drained: boolean;
  /** When not drained: what was still unfinished (queue states, due and leased visitors). */
  backlog: Record<string, number>;
  deadLetters: number;
  failedJobs: number;
  leftoverStoreKeys: number;
  /** Oracle vs Target, one line per difference (empty: equal). */
  differences: string[];
  /** Writes that put an older value over a newer one (P4); empty when none. */
  overtaking: string[];
  profiles: number;
  unexpectedExits: string[];
  processesStarted: number;
  /** Claims a flusher took back after their lease ran out with no live delivery job. */
  reissuedClaims: number;
  /** Calls Target accepted, per API. */
  targetCalls: { single: number; bulk: number; status: number; rateLimited: number };
}

async function countKeys(redis: RedisClient, pattern: string): Promise<number> {
  return (await scanKeys(redis, pattern)).length;
}

/**
 * Runs a workload through N worker processes (children of the built `workers/worker.js`)
 * against a simulator in this process, waits until every queue and the visitor store are
 * empty, and compares what Target holds with the oracle. Cleans up everything it started.
 */
export async function runOracleWorkload(options: OracleRunOptions): Promise<OracleRunResult> {
  const target = { REDIS_URL: options.redis?.url ?? redisUrl(), REDIS_CLUSTER: options.redis?.cluster ?? false };
  const shards = options.shards ?? 1;
  const redis = connectRedis(target);
  const prefix = uniquePrefix('oracle');
  // Faithful on unknown ids: a visitor routed wrongly (an unknown mbox3rdPartyId by single
  // update) is not created, and the oracle comparison catches it.
  const simulator = await startSimulator({
    ...NO_ROW_LOSS,
    clientCode: 'acme',
    latencyMs: options.targetLatencyMs ?? 0,
    createOnSingleUpdate: 'pcId',
  });
  let fleet: WorkerFleet;
  try {
    fleet = new WorkerFleet(
      {
        REDIS_URL: target.REDIS_URL,
        REDIS_CLUSTER: String(target.REDIS_CLUSTER),
        REDIS_SHARDS: String(shards),
        REDIS_PREFIX: prefix,
        TARGET_CLIENT_CODE: 'acme',
        TARGET_BASE_URL: simulator.url,
        ...FAST_PIPELINE_ENV,
        ...options.env,
      },
      options.processes,
    );
  } catch (error) {
    // dist/ missing: nothing was started but the simulator and the connection.
    await simulator.close();
    await redis.quit();
    throw error;
  }
  const producer = createProducer({ connection: redis, prefix, source: 'pos', shards });
  const queues = openWorkQueues(redis, prefix);
  const deadLetterQueue = new Queue(QUEUE_NAMES.deadLetter, { connection: redis, prefix: bullPrefix(prefix) });
  const store = new VisitorStore(redis, {
    prefix,
    coalesceWindowMs: 100,
    dedupeWindowMs: 60_000,
    deliveredRetentionMs: 60_000,
    leaseMs: 2000,
    shards,
  });
  let chaos: Promise<void> = Promise.resolve();
  const writes: AppliedWrite[] = [];
  simulator.store.onWrite((w) => {
    if (w.outcome === 'created' || w.outcome === 'updated')
      writes.push({ vk: profileKey(w.kind, w.id), attributes: w.attributes });
  });
  try {
    // Every process takes part from the first batch on: wait until each one's workers listen.
    const ready = await waitFor(
      async () => {
        for (const queue of queues) if ((await queue.getWorkersCount()) < options.processes) return false;
        return true;
      },
      30_000,
      100,
    );
    if (!ready) throw new Error(`worker processes did not come up:\n${fleet.unexpectedExits.join('\n')}`);
    await options.beforeProducing?.(redis, prefix);
    let producing = true;
    let chaosError: Error | undefined;
    chaos = (options.chaos?.(fleet, () => producing) ?? Promise.resolve()).catch((error: unknown) => {
      chaosError = error instanceof Error ? error : new Error(String(error));
    });
    let sent = 0;
    let accepted = 0;
    let intakeDuplicates = 0;
    let rejected = 0;
    try {
      for (const group of options.workload.groups) {
        // Batches of one group go out together: a resend among them reaches intake before
        // the first copy is marked, so the merge's own dedupe has to catch it.
        const summaries = await Promise.all(group.map((batch) => producer.sendMany(batch)));
        for (const [i, s] of summaries.entries()) {
          sent += group[i]?.length ?? 0;
          accepted += s.accepted;
          intakeDuplicates += s.duplicates;
          rejected += s.rejected.length;
        }
        if (options.paceMs !== undefined) await new Promise((r) => setTimeout(r, options.paceMs));
      }
    } finally {
      producing = false;
    }
    await chaos;
    if (chaosError !== undefined) throw chaosError;

    const idle = () => isPipelineIdle(redis, prefix, queues, shards);
    // Twice in a row, so a hand-over between two stages is not taken for the end.
    const drained = await waitFor(async () => (await idle()) && (await idle()), options.drainTimeoutMs ?? 60_000, 200);

    const backlog = drained ? {} : await pipelineBacklog(redis, prefix, queues, shards);
    const stats = await store.stats();
    const merged =
      (stats.events_applied ?? 0) +
      (stats.events_superseded ?? 0) +
      (stats.events_late_dropped ?? 0) +
      (stats.events_duplicate ?? 0);
    const deadLetterCounts = await deadLetterQueue.getJobCounts();
    let failedJobs = 0;
    for (const queue of queues) failedJobs += await queue.getFailedCount();
    const leftoverStoreKeys =
      (await countKeys(redis, `{${prefix}*}:vp:*`)) + (await countKeys(redis, `{${prefix}*}:vf:*`));
    const expected = oracleProfiles(options.workload.events);
    return {
      sent,
      accepted,
      intakeDuplicates,
      rejected,
      stats,
      lost: accepted - merged,
      drained,
      backlog,
      deadLetters: Object.values(deadLetterCounts).reduce((a, b) => a + b, 0),
      failedJobs,
      leftoverStoreKeys,
      differences: diffProfiles(expected, simulator.store.all()),
      overtaking: findOvertaking(options.workload.events, writes).slice(0, 20),
      profiles: expected.size,
      unexpectedExits: [...fleet.unexpectedExits],
      processesStarted: fleet.started,
      reissuedClaims: fleet.countLines(/without a live delivery job: reissued/),
      targetCalls: {
        single: simulator.stats.single,
        bulk: simulator.stats.bulk,
        status: simulator.stats.status,
        rateLimited: simulator.stats.rateLimited,
      },
    };
  } finally {
    const stopped = fleet.stopAll();
    await chaos;
    await stopped;
    await producer.close();
    await Promise.all([...queues, deadLetterQueue].map((q) => q.close()));
    await simulator.close();
    await deletePrefix(redis, prefix);
    await redis.quit();
  }
}

/**
 * The end state every oracle run must reach: drained, nothing rejected, lost or left over,
 * resends counted exactly once (at intake or by the merge), and Target equal to the oracle
 * with no older value written over a newer one.
 */
export function expectOracleHolds(result: OracleRunResult, resends: number, context: string): void {
  expect(result.unexpectedExits, context).toEqual([]);
  expect(result.drained, context).toBe(true);
  expect(result.rejected, context).toBe(0);
  expect(result.accepted + result.intakeDuplicates, context).toBe(result.sent);
  // A batch merged just before its worker died runs again as a replay, not as a duplicate.
  expect(result.intakeDuplicates + (result.stats.events_duplicate ?? 0), context).toBe(resends);
  expect(result.lost, context).toBe(0);
  expect(result.deadLetters, context).toBe(0);
  expect(result.failedJobs, context).toBe(0);
  expect(result.leftoverStoreKeys, context).toBe(0);
  expect(result.differences, context).toEqual([]);
  expect(result.overtaking, context).toEqual([]);
}
