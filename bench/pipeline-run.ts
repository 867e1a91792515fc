/**
 * One workload through the pipeline as production runs it: map, flusher and deliver as
 * separate `node dist/workers/<role>.js` processes on the bench's Redis, a fresh simulator
 * (so its bulk rate limit and counters start at zero), and the TypeScript producer SDK
 * feeding batches from the bench process.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { storeKeys } from '../src/redis/keys.js';
import { QUEUE_NAMES, bullPrefix } from '../src/jobs/catalog.js';
import { startSimulator, type SimulatorOptions } from '../src/simulator/server.js';
import { isPipelineIdle, openWorkQueues } from '../test/harness/drain.js';
import { measureRun, type BenchContext, type Measured } from './measure-run.js';
import { onInterrupt, roleEnv, startRole, stopChild, type Child, type PipelineRole } from './processes.js';
import type { WorkloadSpec } from './workloads.js';
import { NO_ROW_LOSS } from '../test/harness/no-row-loss.js';
import { ROOT } from '../test/harness/spawn-process.js';

export const CLIENT_CODE = 'bench';
const ROLES: readonly PipelineRole[] = ['map', 'flusher', 'deliver'];

export type DeliveryMode = 'single' | 'auto' | 'bulk';

/** Per-run changes to how the pipeline and its simulator run. */
export interface PipelineRunOptions {
  /**
   * Simulator settings over its defaults (the realistic ones: batches stay `incomplete` for
   * LIBRARY_BATCH_PROCESSING_MS, status links name the edge host, and so on).
   */
  simulator?: Partial<Omit<SimulatorOptions, 'clientCode'>>;
  /** Reads the store the run left behind (the roles are idle and still running), before they stop. */
  inspect?: (redis: Redis) => Promise<void>;
}

/** What the pipeline's own accounting says after a run. */
export interface PipelineOutcome {
  deadLetters: number;
  /** The merge script's counters (events_applied, _superseded, _late_dropped, _duplicate). */
  storeStats: Record<string, number>;
  /** Accepted events the merge never accounted for: accepted − (applied + superseded + late + duplicate). */
  lost: number;
}

export interface PipelineResult extends Measured, PipelineOutcome {
  kind: 'pipeline';
  label: string;
  workload: WorkloadSpec;
  mode: DeliveryMode;
  windowMs: number;
  /** Log lines of the roles by `role level: msg`, most frequent first: what the processes were doing. */
  logs: Record<string, number>;
}

const LEVELS: Record<number, string> = { 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/** Counts the roles' JSON log lines by role, level and message. */
export function summarizeLogs(children: readonly Child[], top = 12): Record<string, number> {
  const counts = new Map<string, number>();
  for (const child of children) {
    for (const line of child.proc.lines) {
      let key = `${child.name} ${line.slice(0, 60)}`;
      try {
        const entry = JSON.parse(line) as { level?: number; msg?: string };
        key = `${child.name} ${LEVELS[entry.level ?? 0] ?? String(entry.level)}: ${entry.msg ?? ''}`;
      } catch {
        // not JSON: counted by its start
      }
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return Object.fromEntries([...counts].sort((a, b) => b[1] - a[1]).slice(0, top));
}

/**
 * Keeps each role's log lines in bench/results/logs/<run>-<role>.log (git-ignored): the
 * report only counts them, and a slow run is read from its timeline (bulk submits, polls).
 */
export function writeRoleLogs(label: string, children: readonly Child[]): void {
  const dir = join(ROOT, 'bench/results/logs');
  mkdirSync(dir, { recursive: true });
  const run = label.replace(/[^A-Za-z0-9]+/g, '-');
  for (const child of children)
    writeFileSync(join(dir, `${run}-${child.name}.log`), child.proc.lines.join('\n') + '\n');
}

/** Waits until every work queue is empty and nothing is due or in flight, twice in a row. */
export async function settle(redis: Redis, prefix: string, deadline: number): Promise<boolean> {
  const queues = openWorkQueues(redis, prefix);
  try {
    while (Date.now() < deadline) {
      if ((await isPipelineIdle(redis, prefix, queues)) && (await isPipelineIdle(redis, prefix, queues))) return true;
      await sleep(100);
    }
    return false;
  } finally {
    await Promise.all(queues.map((q) => q.close()));
  }
}

/** Reads the merge counters and the dead letters of the pipeline under `prefix`. */
export async function pipelineOutcome(redis: Redis, prefix: string, accepted: number): Promise<PipelineOutcome> {
  const raw = await redis.hgetall(storeKeys(prefix).stats);
  const storeStats = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, Number(v)]));
  const deadLetterQueue = new Queue(QUEUE_NAMES.deadLetter, { connection: redis, prefix: bullPrefix(prefix) });
  try {
    const deadLetters = await deadLetterQueue.count();
    const merged = ['events_applied', 'events_superseded', 'events_late_dropped', 'events_duplicate'].reduce(
      (n, k) => n + (storeStats[k] ?? 0),
      0,
    );
    return { deadLetters, storeStats, lost: accepted - merged };
  } finally {
    await deadLetterQueue.close();
  }
}

export async function runPipeline(
  ctx: BenchContext,
  spec: WorkloadSpec,
  mode: DeliveryMode,
  label: string,
  options: PipelineRunOptions = {},
): Promise<PipelineResult> {
  ctx.log(`${label}: ${spec.events} events, DELIVERY_MODE=${mode}`);
  const began = Date.now();
  await ctx.redis.flushall();
  const sim = await startSimulator({
    ...NO_ROW_LOSS,
    latencyMs: ctx.latencyMs,
    ...options.simulator,
    clientCode: CLIENT_CODE,
  });
  const forget = onInterrupt(() => sim.close());
  const prefix = `bench-${randomBytes(3).toString('hex')}`;
  const producerRedis = new Redis(ctx.redisUrl, { maxRetriesPerRequest: null });
  const children: Child[] = [];
  try {
    const env = roleEnv(
      { redisUrl: ctx.redisUrl, prefix, targetUrl: sim.url, clientCode: CLIENT_CODE },
      {
        DELIVERY_MODE: mode,
        COALESCE_WINDOW_MS: String(ctx.windowMs),
        COALESCE_MAX_WAIT_MS: String(Math.max(60_000, ctx.windowMs)),
        ...ctx.env,
      },
    );
    const started = await Promise.allSettled(ROLES.map((role) => startRole(role, env, ctx.cpuProfileDir)));
    for (const s of started) if (s.status === 'fulfilled') children.push(s.value);
    const failed = started.find((s) => s.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    ctx.log(`  map, flusher and deliver ready after ${((Date.now() - began) / 1000).toFixed(1)} s`);

    const measured = await measureRun(ctx, {
      spec,
      sim,
      children: Object.fromEntries(children.map((c) => [c.name, c.pid])),
      sender: { kind: 'sdk', prefix, source: 'pos' },
      windowMs: ctx.windowMs,
      settle: (deadline) => settle(producerRedis, prefix, deadline),
    });
    const outcome = await pipelineOutcome(producerRedis, prefix, measured.accepted);
    if (options.inspect !== undefined) await options.inspect(producerRedis);
    return {
      kind: 'pipeline',
      label,
      workload: spec,
      mode,
      windowMs: ctx.windowMs,
      ...outcome,
      logs: summarizeLogs(children),
      ...measured,
    };
  } finally {
    const stopping = Date.now();
    await Promise.allSettled(children.map((c) => stopChild(c)));
    writeRoleLogs(label, children);
    await producerRedis.quit();
    await sim.close();
    forget();
    ctx.log(
      `  run took ${((Date.now() - began) / 1000).toFixed(1)} s (stopping ${((Date.now() - stopping) / 1000).toFixed(1)} s)`,
    );
  }
}
