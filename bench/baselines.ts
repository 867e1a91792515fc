/**
 * The baselines docs/performance.md compares with, on the same Redis and simulator settings as the pipeline:
 * (a) naive: one BullMQ job per event (`addBulk` of single-event jobs, the fastest way to
 *     enqueue them) and one Single Profile Update call per event, worker concurrency 50;
 * (b) BullMQ's ceiling: the same jobs through a worker that does nothing.
 * Both workers run in a child process of their own, like the pipeline's roles.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { startSimulator } from '../src/simulator/server.js';
import { processCpuSeconds, processMemory, redisCost, resetRedisStats, type RedisCost } from './measure.js';
import { measureRun, type BenchContext, type Measured } from './measure-run.js';
import { CLIENT_CODE } from './pipeline-run.js';
import { startProducerThread, type Sender } from './producer-thread.js';
import { onInterrupt, startBaselineWorker, stopChild, type Child } from './processes.js';
import type { WorkloadSpec } from './workloads.js';
import { NO_ROW_LOSS } from '../test/harness/no-row-loss.js';

export const NAIVE_CONCURRENCY = 50;
export const NOOP_CONCURRENCY = 100;

export interface NaiveResult extends Measured {
  kind: 'naive';
  label: string;
  workload: WorkloadSpec;
}

export interface NoopResult {
  kind: 'noop';
  label: string;
  events: number;
  acceptedPerSec: number;
  /** Jobs completed per second, first add to last completion. */
  jobsPerSec: number;
  redis: RedisCost;
  processes: Record<string, { peakRssMb: number; cpuSeconds: number }>;
}

/** The queue of a baseline (its jobs are added by the producer thread, see producer-thread.ts). */
async function withQueue<T>(
  ctx: BenchContext,
  mode: 'naive' | 'noop',
  env: Record<string, string>,
  body: (queue: Queue, sender: Sender, worker: Child) => Promise<T>,
): Promise<T> {
  await ctx.redis.flushall();
  const began = Date.now();
  const prefix = `bench-${mode}-${randomBytes(3).toString('hex')}`;
  const connection = new Redis(ctx.redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(mode, { connection, prefix });
  const concurrency = mode === 'naive' ? NAIVE_CONCURRENCY : NOOP_CONCURRENCY;
  let worker: Child | undefined;
  try {
    worker = await startBaselineWorker(mode, {
      REDIS_URL: ctx.redisUrl,
      BENCH_PREFIX: prefix,
      BENCH_QUEUE: mode,
      BENCH_MODE: mode,
      BENCH_CONCURRENCY: String(concurrency),
      ...env,
    });
    return await body(queue, { kind: 'jobs', prefix, queue: mode }, worker);
  } finally {
    if (worker !== undefined) await stopChild(worker);
    await queue.close();
    await connection.quit();
    ctx.log(`  run took ${((Date.now() - began) / 1000).toFixed(1)} s`);
  }
}

export async function runNaive(ctx: BenchContext, spec: WorkloadSpec, label: string): Promise<NaiveResult> {
  ctx.log(`${label}: ${spec.events} events, one job and one call each, concurrency ${NAIVE_CONCURRENCY}`);
  const sim = await startSimulator({ ...NO_ROW_LOSS, clientCode: CLIENT_CODE, latencyMs: ctx.latencyMs });
  const forget = onInterrupt(() => sim.close());
  try {
    return await withQueue(
      ctx,
      'naive',
      { TARGET_URL: sim.url, TARGET_CLIENT: CLIENT_CODE },
      async (_queue, sender, worker) => {
        const measured = await measureRun(ctx, { spec, sim, children: { naive: worker.pid }, sender, windowMs: 0 });
        return { kind: 'naive' as const, label, workload: spec, ...measured };
      },
    );
  } finally {
    await sim.close();
    forget();
  }
}

export async function runNoop(ctx: BenchContext, spec: WorkloadSpec, label: string): Promise<NoopResult> {
  ctx.log(`${label}: ${spec.events} single-event jobs through a no-op worker, concurrency ${NOOP_CONCURRENCY}`);
  return withQueue(ctx, 'noop', {}, async (queue, sender, worker) => {
    await resetRedisStats(ctx.redis);
    const cpu0 = processCpuSeconds(worker.pid);
    const redisCpu0 = processCpuSeconds(ctx.redisPid);
    const producer = await startProducerThread({
      redisUrl: ctx.redisUrl,
      sender,
      spec,
      baseMs: ctx.baseMs,
      batchSize: ctx.batchSize,
      inFlight: ctx.inFlight,
    });
    const t0 = Date.now();
    const produced = await producer.run(t0, () => undefined);
    const deadline = Date.now() + ctx.drainTimeoutMs;
    // Finished jobs are removed, so the queue is done when nothing waits or runs.
    const busy = async () =>
      Object.values(await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized')).some((n) => n > 0);
    while ((await busy()) && Date.now() < deadline) await sleep(10);
    const seconds = (Date.now() - t0) / 1000;
    return {
      kind: 'noop' as const,
      label,
      events: produced.accepted,
      acceptedPerSec: produced.accepted / ((produced.lastAcceptedAt - t0) / 1000),
      jobsPerSec: produced.accepted / seconds,
      redis: await redisCost(ctx.redis),
      processes: {
        noop: {
          peakRssMb: (processMemory(worker.pid)?.peak ?? NaN) / 2 ** 20,
          cpuSeconds: processCpuSeconds(worker.pid) - cpu0,
        },
        redis: {
          peakRssMb: (processMemory(ctx.redisPid)?.peak ?? NaN) / 2 ** 20,
          cpuSeconds: processCpuSeconds(ctx.redisPid) - redisCpu0,
        },
      },
    };
  });
}
