/**
 * The targets docs/performance.md lists (PASS/MISS), each checked against the runs of one bench invocation (ratios
 * from one run on one machine, so a noisy machine moves both sides).
 */
import type { NaiveResult, NoopResult } from './baselines.js';
import type { NpmStartResult } from './npm-start-run.js';
import type { PipelineResult } from './pipeline-run.js';

export type RunResult = PipelineResult | NpmStartResult | NaiveResult | NoopResult;

export interface TargetCheck {
  target: string;
  measured: string;
  pass: boolean | undefined;
}

/**
 * Events per second delivered end to end. The pipeline runs do not count the coalescing
 * window itself (a deliberate wait, not a cost); the `npm start` run counts it, as a
 * newcomer's stopwatch would (first POST to the last write at Target).
 */
export function deliveredPerSec(r: RunResult): number {
  if (r.kind === 'noop') return r.jobsPerSec;
  // A run that never got everything to Target has no end-to-end rate.
  if (!r.complete) return NaN;
  const windowSeconds = r.kind === 'pipeline' ? r.windowMs / 1000 : 0;
  return r.accepted / Math.max(r.doneSeconds - windowSeconds, 0.001);
}

export function callsOf(r: PipelineResult | NpmStartResult | NaiveResult): number {
  return r.calls.single + r.calls.bulk + r.calls.status;
}

/** The Node processes that carried a run: its producers (the bench's SDK thread, or none) are not among them. */
export function nodeProcessesOf(r: RunResult): string[] {
  switch (r.kind) {
    case 'pipeline':
      return ['map', 'flusher', 'deliver'];
    case 'npm-start':
      return ['all-in-one'];
    case 'naive':
      return ['naive'];
    case 'noop':
      return ['noop'];
  }
}

/**
 * µs of CPU per accepted event (user + system, /proc): `node` sums the processes that
 * carried the run (in the pipeline runs intake is the SDK inside the bench, so not
 * counted; in the `npm start` run the one process does intake too), `redis` is the
 * redis-server process (its commands, append-only writes and event loop).
 */
export function cpuPerEvent(r: RunResult): { node: number; redis: number } {
  const events = r.kind === 'noop' ? r.events : r.accepted;
  const node = nodeProcessesOf(r).reduce((sum, name) => sum + (r.processes[name]?.cpuSeconds ?? NaN), 0);
  const redis = r.processes.redis?.cpuSeconds ?? NaN;
  return { node: (node / events) * 1e6, redis: (redis / events) * 1e6 };
}

/** The issue's limits on CPU and commands per event (docs/performance.md). */
export const CPU_LIMITS = { intakeNodeMicros: 10, redisMicros: 20, redisCommands: 10 } as const;

/** The `npm start` run: delivered events/s against naive, and Redis cost per event against its limits. */
export function npmStartChecks(
  r: NpmStartResult,
  naive: NaiveResult | undefined,
  noop: NoopResult | undefined,
): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const target = `${r.label}: delivered events/s ≥ 10x naive, end to end`;
  if (!r.complete)
    checks.push({
      target,
      measured: `did not finish: ${r.outstanding} events not at Target when the bench stopped waiting`,
      pass: false,
    });
  else if (naive === undefined) checks.push({ target, measured: 'no naive run in this bench', pass: undefined });
  else {
    const [rate, base] = [deliveredPerSec(r), deliveredPerSec(naive)];
    checks.push({
      target,
      measured: `${fmt(rate / base, 1)}x (${fmt(rate, 0)} vs ${fmt(base, 0)}/s; all at Target ${fmt(r.doneSeconds, 2)} s after the first POST)`,
      pass: rate / base >= 10,
    });
  }
  const cpu = cpuPerEvent(r);
  const commands = r.redis.commands / r.accepted;
  const { redisMicros, redisCommands, intakeNodeMicros } = CPU_LIMITS;
  checks.push({
    target: `${r.label}: Redis ≤ ${redisMicros} µs CPU and ≤ ${redisCommands} commands per event, end to end with append-only on`,
    // Process CPU, not commandstats time: a script's time there also holds the commands it ran.
    measured: `${fmt(cpu.redis, 1)} µs (${fmt(cpu.redis / redisMicros, 1)}x), ${fmt(commands, 1)} commands (${fmt(commands / redisCommands, 1)}x)`,
    pass: cpu.redis <= redisMicros && commands <= redisCommands,
  });
  const beside = [naive, noop]
    .filter((b) => b !== undefined)
    .map((b) => `${b.label} ${fmt(cpuPerEvent(b).node, 1)} µs Node, ${fmt(cpuPerEvent(b).redis, 1)} µs Redis`);
  checks.push({
    target: `${r.label}: Node CPU per event, every role and intake in one process (the ≤ ${intakeNodeMicros} µs limit is for intake alone, so not judged here)`,
    measured: `${fmt(cpu.node, 1)} µs${beside.length > 0 ? ` (${beside.join('; ')})` : ''}`,
    pass: undefined,
  });
  return checks;
}

function worst<T>(items: T[], score: (t: T) => number): T | undefined {
  return items.reduce<T | undefined>((w, t) => (w === undefined || score(t) > score(w) ? t : w), undefined);
}

const fmt = (x: number, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');

export function checkTargets(runs: readonly RunResult[]): TargetCheck[] {
  const pipeline = runs.filter((r): r is PipelineResult => r.kind === 'pipeline');
  const naive = runs.find((r): r is NaiveResult => r.kind === 'naive');
  const noop = runs.find((r): r is NoopResult => r.kind === 'noop');
  const checks: TargetCheck[] = [];
  for (const r of runs) if (r.kind === 'npm-start') checks.push(...npmStartChecks(r, naive, noop));
  const maxRate = pipeline.filter((r) => r.workload.name === 'W1' && r.workload.pace.kind === 'max');

  for (const r of maxRate) {
    const rate = deliveredPerSec(r);
    if (!r.complete) {
      checks.push({
        target: `${r.label}: delivered events/s ≥ 10x naive and ≥ 3x BullMQ no-op`,
        measured: `did not finish: ${r.outstanding} events not at Target when the bench stopped waiting`,
        pass: false,
      });
      continue;
    }
    if (naive !== undefined) {
      const x = rate / deliveredPerSec(naive);
      checks.push({
        target: `${r.label}: delivered events/s ≥ 10x naive`,
        measured: `${fmt(x, 1)}x (${fmt(rate, 0)} vs ${fmt(deliveredPerSec(naive), 0)}/s)`,
        pass: x >= 10,
      });
    }
    if (noop !== undefined) {
      const x = rate / noop.jobsPerSec;
      checks.push({
        target: `${r.label}: delivered events/s ≥ 3x BullMQ no-op jobs/s`,
        measured: `${fmt(x, 1)}x (${fmt(rate, 0)} vs ${fmt(noop.jobsPerSec, 0)}/s)`,
        pass: x >= 3,
      });
    }
  }
  const single = pipeline.filter((r) => r.mode === 'single');
  const worstSingle = worst(single, (r) => callsOf(r) / r.visitorWindows);
  if (worstSingle !== undefined) {
    const x = callsOf(worstSingle) / worstSingle.visitorWindows;
    checks.push({
      target: 'single mode: calls ≤ 1.05x oracle visitor-windows (worst run)',
      measured: `${fmt(x, 3)}x (${worstSingle.label}: ${callsOf(worstSingle)} calls / ${worstSingle.visitorWindows})`,
      pass: x <= 1.05,
    });
  }
  const auto = pipeline.filter((r) => r.mode === 'auto');
  const worstAuto = worst(auto, (r) => callsOf(r) / r.accepted);
  if (worstAuto !== undefined) {
    const x = callsOf(worstAuto) / worstAuto.accepted;
    const { single: s, bulk: b, status: st } = worstAuto.calls;
    const unsettled = worstAuto.settled
      ? ''
      : '; counted before the pipeline was idle, so later status polls are missing';
    checks.push({
      target: 'auto (bulk) mode: calls/event ≤ 0.001 (worst run)',
      measured: `${fmt(x, 4)} (${worstAuto.label}: ${s} single + ${b} bulk + ${st} status${unsettled})`,
      pass: x <= 0.001,
    });
  }
  for (const r of pipeline.filter((p) => p.workload.name === 'W1' && p.workload.pace.kind === 'steady')) {
    const limit = r.windowMs + 500;
    // Judged on every event; the steady state (after the first window) is shown beside it.
    const steady = r.latencyAfterFirstWindow;
    const after =
      steady.events > 0
        ? `; ${fmt(steady.p99, 0)} ms for the ${steady.events} events accepted after the first window`
        : '';
    checks.push({
      target: `${r.label}: p99 ≤ window + 500 ms = ${limit} ms`,
      measured: `${fmt(r.latency.p99, 0)} ms (${fmt(r.latency.p99 / limit, 2)}x)${after}`,
      pass: r.latency.p99 <= limit,
    });
  }
  const worstBytes = worst(maxRate, (r) => r.redis.bytesPerPendingEvent);
  if (worstBytes !== undefined) {
    const b = worstBytes.redis.bytesPerPendingEvent;
    checks.push({
      target: 'Redis bytes per pending event ≤ 250 (W1, at peak backlog)',
      measured: `${fmt(b, 0)} B (${worstBytes.label}, backlog ${worstBytes.redis.peakBacklog}; ${fmt(b / 250, 1)}x)`,
      pass: b <= 250,
    });
  }
  const workers = maxRate.flatMap((r) =>
    ['map', 'flusher', 'deliver'].map((name) => ({ run: r.label, name, p: r.processes[name] })),
  );
  const biggest = worst(workers, (w) => w.p?.peakRssMb ?? 0);
  // Growth is measured over the span each role worked in (bench/measure.ts rssGrowthMb);
  // a role that never worked long enough has none, and cannot count as flat.
  const measuredGrowth = workers.filter((w) => Number.isFinite(w.p?.rssGrowthMb));
  const growing = worst(measuredGrowth, (w) => (w.p?.rssGrowthMb ?? 0) / (w.p?.peakRssMb ?? 1));
  if (biggest?.p !== undefined) {
    const flat = growing?.p === undefined ? undefined : growing.p.rssGrowthMb <= 0.1 * growing.p.peakRssMb;
    const growth =
      growing?.p === undefined
        ? 'growth not measurable (no role worked for 6 samples)'
        : `most growth ${fmt(growing.p.rssGrowthMb, 1)} MB (${growing.name}, ${growing.run})`;
    checks.push({
      target: 'worker RSS ≤ 256 MB over W1, flat (growth middle→last third of the span each role worked in ≤ 10 %)',
      measured: `peak ${fmt(biggest.p.peakRssMb, 0)} MB (${biggest.name}, ${biggest.run}); ${growth}`,
      pass: biggest.p.peakRssMb > 256 || flat === false ? false : flat,
    });
  }
  return checks;
}
