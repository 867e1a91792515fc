/**
 * One measured run, whatever carries the events (the pipeline or the naive baseline):
 * produce the workload, wait until Target holds every accepted event, and collect the
 * figures docs/performance.md reports from the tracker, Redis, /proc and the simulator.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { Simulator } from '../src/simulator/server.js';
import {
  processCpuSeconds,
  processMemory,
  redisCost,
  resetRedisStats,
  ScriptCostLog,
  Sampler,
  usedMemory,
  type RedisCost,
} from './measure.js';
import { countVisitorWindows, diffProfiles, workloadOracle } from './oracle.js';
import { startProducerThread, type Sender } from './producer-thread.js';
import { DeliveryTracker, type Percentiles } from './tracker.js';
import type { WorkloadSpec } from './workloads.js';

/** Settings every run of one bench invocation shares. */
export interface BenchContext {
  redis: Redis;
  redisUrl: string;
  redisPid: number;
  latencyMs: number;
  windowMs: number;
  /** Event time of seq 0 (fixed per bench invocation). */
  baseMs: number;
  batchSize: number;
  inFlight: number;
  /** Extra environment for the pipeline's processes (`--env KEY=VALUE`). */
  env: Record<string, string>;
  drainTimeoutMs: number;
  /** Where the roles write `--cpu-prof` profiles (unset: no profiling). */
  cpuProfileDir?: string;
  /** Stop waiting when no event reached Target for this long. */
  stallMs: number;
  /** Longest wait for the pipeline to go idle after the last delivery. */
  settleMs: number;
  /** `--script-costs`: log every command in the slow log and report Redis time per script. */
  scriptCosts?: boolean;
  log: (line: string) => void;
}

export interface ProcessFigures {
  peakRssMb: number;
  cpuSeconds: number;
  /** RSS of the last third of the run minus the first third (MB). */
  rssGrowthMb: number;
}

export interface Measured {
  events: number;
  accepted: number;
  acceptedPerSec: number;
  /** Seconds from the first send until Target held every accepted event. */
  doneSeconds: number;
  /** Every accepted event reached Target before the drain timeout. */
  complete: boolean;
  /** The pipeline was idle (nothing queued, due or in flight) when calls were counted. */
  settled: boolean;
  outstanding: number;
  latency: Percentiles;
  /** Latency of the events accepted after the first coalescing window (the steady state; see DeliveryTracker.percentilesFrom). */
  latencyAfterFirstWindow: Percentiles & { events: number };
  visitorWindows: number;
  calls: { single: number; bulk: number; status: number; failed: number; byStatus: Record<number, number> };
  redis: RedisCost & {
    usedMemoryPeak: number;
    bytesPerPendingEvent: number;
    peakBacklog: number;
    retainedBytesPerEvent: number;
  };
  processes: Record<string, ProcessFigures>;
  differences: string[];
  profiles: number;
  overtakes: number;
  /** Event-loop delay of the bench process (producer + simulator + tracker) during the run. */
  benchLoopDelayMs: { p99: number; max: number };
}

export interface MeasureOptions {
  spec: WorkloadSpec;
  sim: Simulator;
  /** Processes to watch, by name (pipeline roles or the baseline worker). */
  children: Record<string, number>;
  /** How the producer thread stores batches. */
  sender: Sender;
  /** The coalescing window the oracle counts visitor-windows with (0: none). */
  windowMs: number;
  /** Resolves true once the carrier is idle, false at the deadline (epoch ms). */
  settle?: (deadline: number) => Promise<boolean>;
}

export async function measureRun(ctx: BenchContext, options: MeasureOptions): Promise<Measured> {
  const { spec, sim } = options;
  await resetRedisStats(ctx.redis);
  const scriptLog = ctx.scriptCosts === true ? new ScriptCostLog(ctx.redis) : undefined;
  await scriptLog?.start();
  const memBase = await usedMemory(ctx.redis);
  const pids = { ...options.children, redis: ctx.redisPid };
  const cpu0 = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, processCpuSeconds(pid)]));
  const producer = await startProducerThread({
    redisUrl: ctx.redisUrl,
    sender: options.sender,
    spec,
    baseMs: ctx.baseMs,
    batchSize: ctx.batchSize,
    inFlight: ctx.inFlight,
  });
  const benchCpu0 = process.cpuUsage();
  const t0 = Date.now();
  const tracker = new DeliveryTracker(spec.events, spec.visitors, ctx.baseMs, t0);
  const unsubscribe = sim.store.onWrite((write) => tracker.onWrite(write));
  const sampler = new Sampler(
    ctx.redis,
    () => pids,
    () => tracker.outstanding,
    t0,
  );
  sampler.start();
  // The simulator shares this event loop with the producer: its lag inflates every latency.
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  try {
    const produced = await producer.run(t0, (batch, at) => tracker.noteAccepted(batch, at));
    const acceptSeconds = (produced.lastAcceptedAt - t0) / 1000;
    ctx.log(`  accepted ${produced.accepted} events in ${acceptSeconds.toFixed(1)} s; waiting for Target`);
    // Give up when nothing reached Target for `stallMs` (a stuck pipeline) or at the deadline.
    const deadline = Date.now() + ctx.drainTimeoutMs;
    let progress = { delivered: tracker.delivered, at: Date.now() };
    while (tracker.outstanding > 0 && Date.now() < deadline && Date.now() - progress.at < ctx.stallMs) {
      await sleep(25);
      if (tracker.delivered !== progress.delivered) progress = { delivered: tracker.delivered, at: Date.now() };
    }
    if (tracker.outstanding > 0) ctx.log(`  gave up waiting: ${tracker.outstanding} events not at Target`);
    await sampler.take();
    sampler.stop();
    loopDelay.disable();

    const doneSeconds = (tracker.lastDelivery() || 0) / 1000;
    ctx.log(`  last delivery after ${doneSeconds.toFixed(1)} s; checking the oracle while the pipeline settles`);
    // Calls and Redis cost are read once the pipeline is idle (bulk status polls and acks
    // come after the last write), so they count what delivering really took.
    const settleStarted = Date.now();
    const settling = options.settle?.(settleStarted + ctx.settleMs) ?? Promise.resolve(true);
    const oracle = workloadOracle(spec, ctx.baseMs, ctx.batchSize, t0);
    const settled = await settling;
    const differences = diffProfiles(oracle.profiles(), sim.store.all(), 5);
    ctx.log(
      `  ${settled ? 'settled' : 'not idle yet'} and checked after ${((Date.now() - settleStarted) / 1000).toFixed(1)} s`,
    );
    const s = sim.stats;
    const scripts = await scriptLog?.stop();
    const cost = await redisCost(ctx.redis);
    if (scripts !== undefined) {
      const events = Math.max(produced.accepted, 1);
      for (const c of scripts)
        ctx.log(
          `  script ${c.script}: ${c.calls} calls, ${(c.usec / c.calls / 1000).toFixed(2)} ms each (longest ${(c.maxUsec / 1000).toFixed(1)} ms), ${(c.usec / events).toFixed(1)} µs per event`,
        );
    }
    const memEnd = await usedMemory(ctx.redis);
    const peak = sampler.peakBacklog();
    const processes: Record<string, ProcessFigures> = {};
    for (const [name, pid] of Object.entries(pids)) {
      processes[name] = {
        peakRssMb: (processMemory(pid)?.peak ?? NaN) / 2 ** 20,
        cpuSeconds: processCpuSeconds(pid) - (cpu0[name] ?? 0),
        rssGrowthMb: sampler.rssGrowthMb(name),
      };
    }
    const benchCpu = process.cpuUsage(benchCpu0);
    processes.bench = {
      peakRssMb: (process.resourceUsage().maxRSS * 1024) / 2 ** 20,
      cpuSeconds: (benchCpu.user + benchCpu.system) / 1e6,
      rssGrowthMb: NaN,
    };
    return {
      events: spec.events,
      accepted: produced.accepted,
      acceptedPerSec: produced.accepted / Math.max(acceptSeconds, 0.001),
      doneSeconds,
      complete: tracker.outstanding === 0,
      settled,
      outstanding: tracker.outstanding,
      latency: tracker.percentiles(),
      latencyAfterFirstWindow: tracker.percentilesFrom(options.windowMs),
      visitorWindows: countVisitorWindows(tracker.visitorOf, tracker.acceptedAt, options.windowMs),
      calls: {
        single: s.single,
        bulk: s.bulk,
        status: s.status,
        failed: Object.entries(s.byStatus)
          .filter(([code]) => code !== '200')
          .reduce((n, [, c]) => n + c, 0),
        byStatus: { ...s.byStatus },
      },
      redis: {
        ...cost,
        usedMemoryPeak: Math.max(...sampler.samples.map((x) => x.usedMemory)) - memBase,
        bytesPerPendingEvent:
          peak !== undefined && peak.outstanding > 0 ? (peak.usedMemory - memBase) / peak.outstanding : NaN,
        peakBacklog: peak?.outstanding ?? 0,
        retainedBytesPerEvent: (memEnd - memBase) / Math.max(produced.accepted, 1),
      },
      processes,
      differences,
      profiles: oracle.visitors,
      overtakes: tracker.overtakes,
      benchLoopDelayMs: { p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 },
    };
  } finally {
    loopDelay.disable();
    sampler.stop();
    unsubscribe();
  }
}
