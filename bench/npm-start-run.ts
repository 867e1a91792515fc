/**
 * The run a newcomer makes: what `npm start` runs (`node dist/workers/all-in-one.js`: HTTP
 * intake, map, flusher and deliver in one process) on an append-only Redis, fed over HTTP
 * by a few clients with a source's API key, delivering to a fresh simulator. Measured like
 * every pipeline run (measure-run.ts); targets.ts adds the CPU each event costs the process
 * and Redis.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { startSimulator } from '../src/simulator/server.js';
import { infoField } from './measure.js';
import { measureRun, type BenchContext, type Measured } from './measure-run.js';
import {
  CLIENT_CODE,
  pipelineOutcome,
  settle,
  summarizeLogs,
  writeRoleLogs,
  type DeliveryMode,
  type PipelineOutcome,
} from './pipeline-run.js';
import { onInterrupt, roleEnv, startAllInOne, stopChild, type Child } from './processes.js';
import type { WorkloadSpec } from './workloads.js';
import { NO_ROW_LOSS } from '../test/harness/no-row-loss.js';

/**
 * How the run is set up (the figures of the measurement docs/performance.md compares with):
 * Zipf over `visitors`, `clients` concurrent POSTs of `batch` events, a 1 s coalescing
 * window, Redis appending every write with `appendfsync` (what `npm start`'s private
 * redis-server does), and bulk batches that complete at once at the simulator.
 */
export const NPM_START = {
  visitors: 20_000,
  clients: 4,
  batch: 500,
  windowMs: 1_000,
  appendfsync: 'everysec',
  batchProcessingMs: 0,
} as const;

/** Events of the run, in quick and full benches alike (the size of the measurement docs/performance.md compares with). */
export const NPM_START_EVENTS = 100_000;

export interface NpmStartResult extends Measured, PipelineOutcome {
  kind: 'npm-start';
  label: string;
  workload: WorkloadSpec;
  mode: DeliveryMode;
  windowMs: number;
  setup: { clients: number; batch: number; appendfsync: string; batchProcessingMs: number };
  /** Log lines of the process by `level: msg`, most frequent first. */
  logs: Record<string, number>;
}

async function configGet(redis: Redis, name: string): Promise<string> {
  const [, value] = (await redis.config('GET', name)) as [string?, string?];
  return value ?? '';
}

/**
 * Turns append-only on for one run and resolves once Redis has written its first file (a
 * rewrite of the data set, not part of the run); the function it returns turns it off
 * again, restores `appendfsync` and removes the files (they live in the bench Redis's own
 * temp dir, removed with it anyway).
 */
export async function appendOnlyFor(redis: Redis, appendfsync: string): Promise<() => Promise<void>> {
  const before = await configGet(redis, 'appendfsync');
  await redis.config('SET', 'appendfsync', appendfsync);
  await redis.config('SET', 'appendonly', 'yes');
  const off = async (): Promise<void> => {
    await redis.config('SET', 'appendonly', 'no');
    await redis.config('SET', 'appendfsync', before);
    // Redis 7 keeps its append-only files in a folder of its dir; older ones in the dir itself.
    const folder = await configGet(redis, 'appenddirname');
    if (folder !== '') rmSync(join(await configGet(redis, 'dir'), folder), { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    const info = await redis.info('persistence');
    const writing = infoField(info, 'aof_rewrite_in_progress') + infoField(info, 'aof_rewrite_scheduled');
    if (infoField(info, 'aof_enabled') === 1 && writing === 0) return off;
    if (Date.now() > deadline) {
      await off();
      throw new Error('Redis did not finish writing its first append-only file within 30 s');
    }
    await sleep(50);
  }
}

export async function runNpmStart(ctx: BenchContext, spec: WorkloadSpec, label: string): Promise<NpmStartResult> {
  const env0: Record<string, string> = { COALESCE_WINDOW_MS: String(NPM_START.windowMs), ...ctx.env };
  const windowMs = Number(env0.COALESCE_WINDOW_MS);
  const mode = (env0.DELIVERY_MODE ?? 'auto') as DeliveryMode;
  ctx.log(
    `${label}: ${spec.events} events over HTTP (${NPM_START.clients} clients × ${NPM_START.batch}), all-in-one process, append-only Redis, window ${windowMs} ms`,
  );
  const began = Date.now();
  await ctx.redis.flushall();
  const sim = await startSimulator({
    ...NO_ROW_LOSS,
    latencyMs: ctx.latencyMs,
    batchProcessingMs: NPM_START.batchProcessingMs,
    clientCode: CLIENT_CODE,
  });
  const forgetSim = onInterrupt(() => sim.close());
  const prefix = `bench-${randomBytes(3).toString('hex')}`;
  const apiKey = randomBytes(16).toString('hex');
  const redis = new Redis(ctx.redisUrl, { maxRetriesPerRequest: null });
  let appendOff: (() => Promise<void>) | undefined;
  let child: Child | undefined;
  try {
    appendOff = await appendOnlyFor(ctx.redis, NPM_START.appendfsync);
    const env = roleEnv(
      { redisUrl: ctx.redisUrl, prefix, targetUrl: sim.url, clientCode: CLIENT_CODE },
      { ...env0, INGEST_API_KEYS: `bench:${apiKey}` },
    );
    const started = await startAllInOne(env, ctx.cpuProfileDir);
    child = started.child;
    ctx.log(`  all-in-one listening at ${started.address} after ${((Date.now() - began) / 1000).toFixed(1)} s`);
    const measured = await measureRun(
      { ...ctx, windowMs, batchSize: NPM_START.batch, inFlight: NPM_START.clients },
      {
        spec,
        sim,
        children: { 'all-in-one': child.pid },
        sender: { kind: 'http', url: started.address, apiKey },
        windowMs,
        settle: (deadline) => settle(redis, prefix, deadline),
      },
    );
    return {
      kind: 'npm-start',
      label,
      workload: spec,
      mode,
      windowMs,
      setup: {
        clients: NPM_START.clients,
        batch: NPM_START.batch,
        appendfsync: NPM_START.appendfsync,
        batchProcessingMs: NPM_START.batchProcessingMs,
      },
      ...(await pipelineOutcome(redis, prefix, measured.accepted)),
      logs: summarizeLogs([child]),
      ...measured,
    };
  } finally {
    const stopping = Date.now();
    if (child !== undefined) {
      await stopChild(child);
      writeRoleLogs(label, [child]);
    }
    await redis.quit();
    await sim.close();
    forgetSim();
    await appendOff?.();
    ctx.log(
      `  run took ${((Date.now() - began) / 1000).toFixed(1)} s (stopping ${((Date.now() - stopping) / 1000).toFixed(1)} s)`,
    );
  }
}
