/**
 * `npm run bench [-- --quick]`: the benchmark docs/performance.md describes. Starts its own redis-server (no
 * persistence, noeviction), runs the baselines, `npm start` over HTTP (append-only on for
 * that run) and W1–W4 through the pipeline in each delivery mode, prints the table and the targets, writes bench/results/latest.json and
 * the result blocks of docs/performance.md. Flags: see `usage` below.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { LIBRARY_BATCH_PROCESSING_MS } from '../src/simulator/limits.js';
import { spawnRedis, type SpawnedRedis } from '../test/harness/redis-server.js';
import { ROOT } from '../test/harness/spawn-process.js';
import { runNaive, runNoop } from './baselines.js';
import type { BenchContext } from './measure-run.js';
import { NPM_START, NPM_START_EVENTS, runNpmStart } from './npm-start-run.js';
import { benchPlan, pacedEvents, type Step } from './plan.js';
import { runPipeline, type DeliveryMode } from './pipeline-run.js';
import { parseProcessingRows, PROCESSING_SCENARIOS, runProcessingRow } from './processing-time.js';
import { describeMachine, writeJson, writeReport, type BenchReport } from './report.js';
import { measureDeliveredBytes } from './store-bytes.js';
import { installInterruptHandlers, onInterrupt } from './processes.js';
import { deliveredPerSec, type RunResult } from './targets.js';
import { VISITORS, type WorkloadName, type WorkloadSpec } from './workloads.js';

const usage = `npm run bench -- [--quick] [--events N] [--latency MS] [--window MS] [--modes single,auto]
  [--workloads W1,W2,W3,W4] [--naive-events N] [--noop-events N] [--env KEY=VALUE ...] [--profile] [--script-costs (Redis time per Lua script, from a slow log of every call; memory figures then include it)] [--no-docs]
  [--skip-baselines] [--skip-npm-start] [--npm-start-events N] [--skip-paced] [--max-rate EVENTS_PER_S (for the paced runs, instead of W1's)]
  [--skip-processing (no bulk processing-time runs)] [--processing-only (only those, and the store bytes)]
  [--processing-rows MS:SCALE,... (real batch processing time and its scale, instead of the default rows)]`;

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    events: { type: 'string' },
    latency: { type: 'string', default: '20' },
    window: { type: 'string', default: '5000' },
    modes: { type: 'string', default: 'single,auto' },
    workloads: { type: 'string', default: 'W1,W2,W3,W4' },
    'naive-events': { type: 'string' },
    'noop-events': { type: 'string' },
    env: { type: 'string', multiple: true, default: [] },
    profile: { type: 'boolean', default: false },
    'script-costs': { type: 'boolean', default: false },
    'no-docs': { type: 'boolean', default: false },
    'skip-baselines': { type: 'boolean', default: false },
    'skip-npm-start': { type: 'boolean', default: false },
    'npm-start-events': { type: 'string' },
    'skip-paced': { type: 'boolean', default: false },
    'max-rate': { type: 'string' },
    'skip-processing': { type: 'boolean', default: false },
    'processing-only': { type: 'boolean', default: false },
    'processing-rows': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (flags.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}

const events = Number(flags.events ?? (flags.quick ? 100_000 : 1_000_000));
// The naive baseline makes one 20 ms call per event: a sample is enough for its steady rate.
const naiveEvents = Number(flags['naive-events'] ?? (flags.quick ? 3_000 : 50_000));
const noopEvents = Number(flags['noop-events'] ?? (flags.quick ? 20_000 : 200_000));
// The `npm start` run keeps the size it was first measured at (docs/performance.md), in quick and full runs.
const npmStartEvents = flags['skip-npm-start']
  ? 0
  : Number(flags['npm-start-events'] ?? Math.min(events, NPM_START_EVENTS));
const modes = flags.modes.split(',') as DeliveryMode[];
const workloads = new Set(flags.workloads.split(',') as WorkloadName[]);
const log = (line: string) => process.stdout.write(`${line}\n`);

/** The roles run from dist/: rebuild when any source is newer than the build. */
function ensureBuilt(): void {
  const newest = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce(
      (m, e) => Math.max(m, e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs),
      0,
    );
  let built = 0;
  try {
    built = statSync(join(ROOT, 'dist/workers/map.js')).mtimeMs;
  } catch {
    // not built yet
  }
  if (Math.max(newest(join(ROOT, 'src')), newest(join(ROOT, 'workers'))) <= built) return;
  log('building dist/ (sources changed since the last build)');
  execFileSync(join(ROOT, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
}

function spec(name: WorkloadName, n: number, pace: WorkloadSpec['pace'] = { kind: 'max' }): WorkloadSpec {
  const seed = { W1: 101, W2: 202, W3: 303, W4: 404 }[name];
  const pick = ({ W1: 'zipf', W2: 'uniform', W3: 'hot', W4: 'zipf' } as const)[name];
  const title = { W1: 'Zipf 1.0', W2: 'uniform', W3: 'one visitor 10%', W4: 'Zipf, bursts 10x' }[name];
  return { name, title, events: n, visitors: VISITORS, seed, pick, pace };
}

/** Measures the delivered values' bytes in the store a run left behind, into the report. */
function storeBytesOf(report: BenchReport, label: string): (redis: Redis) => Promise<void> {
  return async (redis) => {
    const measured = await measureDeliveredBytes(redis);
    report.storeBytes = { run: label, ...measured };
    log(
      `  delivered visitors' vd hashes (${measured.sampled} of ${measured.visitors}): ${measured.withValues.toFixed(0)} B with values, ${measured.withoutValues.toFixed(0)} B without, values cost ${measured.valueCost.toFixed(0)} B; delivery log ${measured.logBytes.toFixed(0)} B (${measured.logEntries.toFixed(1)} entries)`,
    );
  };
}

/** Runs one step; a W1 run at full speed records the rate its mode sustained, for the paced runs. */
async function runStep(
  ctx: BenchContext,
  step: Step,
  maxRate: Map<DeliveryMode, number>,
  report: BenchReport,
): Promise<RunResult> {
  if (step.kind === 'noop') return runNoop(ctx, spec(step.workload, step.events), step.label);
  if (step.kind === 'naive') return runNaive(ctx, spec(step.workload, step.events), step.label);
  if (step.kind === 'npm-start')
    return runNpmStart(
      ctx,
      { ...spec(step.workload, step.events), title: 'Zipf 1.0, HTTP', visitors: NPM_START.visitors },
      step.label,
    );
  const mode = step.mode ?? 'auto';
  if (step.pace === 'max') {
    // The auto W1 run delivers the most visitors, by bulk and single: its store is measured.
    const inspect = step.workload === 'W1' && mode === 'auto' ? { inspect: storeBytesOf(report, step.label) } : {};
    const result = await runPipeline(ctx, spec(step.workload, step.events), mode, step.label, inspect);
    // The rate this mode sustains end to end: the slower of intake and delivery. A run that
    // never got everything to Target sustains no rate; its paced runs borrow another mode's.
    if (step.workload === 'W1' && result.complete)
      maxRate.set(mode, Math.min(result.acceptedPerSec, deliveredPerSec(result)));
    return result;
  }
  const sustained =
    flags['max-rate'] !== undefined
      ? Number(flags['max-rate'])
      : (maxRate.get(mode) ?? Math.min(...maxRate.values(), 10_000));
  const rate = Math.round(sustained * (step.pace === 'half' ? 0.5 : 0.1));
  const pace: WorkloadSpec['pace'] =
    step.pace === 'half' ? { kind: 'steady', eventsPerSecond: rate } : { kind: 'bursts', eventsPerSecond: rate };
  return runPipeline(ctx, spec(step.workload, pacedEvents(step, rate), pace), mode, step.label);
}

/** Others rebuild dist/ while a long bench runs: a role may fail to load once. Retry once. */
async function retryOnce<T>(label: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    log(`  ${label} failed (${error instanceof Error ? error.message.split('\n')[0] : String(error)}); retrying once`);
    await new Promise((r) => setTimeout(r, 5000));
    return run();
  }
}

async function main(): Promise<void> {
  installInterruptHandlers();
  ensureBuilt();
  const extraEnv = Object.fromEntries(
    flags.env.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
  const cpuProfileDir = flags.profile ? join(ROOT, 'bench/results/profiles') : undefined;
  if (cpuProfileDir !== undefined) mkdirSync(cpuProfileDir, { recursive: true });
  let redisServer: SpawnedRedis | undefined;
  let redis: Redis | undefined;
  const started = Date.now();
  try {
    redisServer = await spawnRedis({ appendOnly: false });
    const stopRedis = redisServer.stop.bind(redisServer);
    onInterrupt(stopRedis);
    redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
    const firstPollMs = Number(extraEnv.BULK_STATUS_POLL_MS ?? 1_000);
    const ctx: BenchContext = {
      redis,
      redisUrl: redisServer.url,
      redisPid: redisServer.process.pid ?? NaN,
      latencyMs: Number(flags.latency),
      windowMs: Number(flags.window),
      // Event times count from a whole hour in the past; the seeded content never changes.
      baseMs: Math.floor(Date.now() / 3_600_000) * 3_600_000 - 6 * 3_600_000,
      // Producers send batches of 1000 (one ingest job each), four at a time.
      batchSize: 1000,
      inFlight: 4,
      env: extraEnv,
      ...(cpuProfileDir !== undefined ? { cpuProfileDir } : {}),
      scriptCosts: flags['script-costs'],
      // --quick must end within two minutes: it stops waiting for a stuck pipeline sooner.
      drainTimeoutMs: flags.quick ? 45_000 : 1_200_000,
      // Longer than a bulk batch's processing (the simulator's default, 2 s) plus its first
      // status poll (BULK_STATUS_POLL_MS at first, then learnt; 5 s allowed) plus a flush: changes held behind a bulk batch
      // legitimately reach Target only after that poll has seen the batch complete and
      // their own batch has been processed.
      stallMs: flags.quick
        ? Math.max(12_000, Math.max(firstPollMs, 5_000) + LIBRARY_BATCH_PROCESSING_MS + 5_000)
        : 60_000,
      // The last bulk batch lands (processing time after its submit) before the poll that
      // reads it `complete` and acks it (the first poll, learnt from earlier batches; 5 s
      // allowed): calls are counted only once that poll ran, so settling may take that long.
      settleMs: flags.quick ? Math.max(firstPollMs, 5_000) + 2_000 : 60_000,
      log,
    };
    const machine = await describeMachine(redis);
    log(
      `bench: ${machine.summary}; ${events} events per workload; latency ${ctx.latencyMs} ms; window ${ctx.windowMs} ms`,
    );
    // The standard runs use the simulator's realistic defaults, batch processing time included.
    const settings = {
      args: process.argv.slice(2).join(' '),
      events,
      latencyMs: ctx.latencyMs,
      windowMs: ctx.windowMs,
      naiveEvents,
      noopEvents,
      env: extraEnv,
      batchProcessingMs: LIBRARY_BATCH_PROCESSING_MS,
    };
    const report: BenchReport = {
      startedAt: new Date(started).toISOString(),
      quick: flags.quick,
      machine,
      settings,
      runs: [],
    };

    const steps = flags['processing-only']
      ? []
      : benchPlan({
          quick: flags.quick,
          events,
          naiveEvents,
          noopEvents,
          modes,
          workloads,
          baselines: !flags['skip-baselines'],
          paced: !flags['skip-paced'],
          npmStartEvents,
        });
    const maxRate = new Map<DeliveryMode, number>();
    for (const step of steps) {
      report.runs.push(await retryOnce(step.label, () => runStep(ctx, step, maxRate, report)));
      writeJson(report);
    }
    if (!flags['skip-processing']) {
      const scenario = { ...PROCESSING_SCENARIOS[flags.quick ? 'quick' : 'full'] };
      if (flags['processing-rows'] !== undefined) scenario.rows = parseProcessingRows(flags['processing-rows']);
      report.processing = [];
      const rows = scenario.rows;
      for (const [i, row] of rows.entries()) {
        // Without an auto W1 run, the last processing run's store is measured instead.
        const inspect =
          report.storeBytes === undefined && i === rows.length - 1
            ? storeBytesOf(report, 'bulk processing-time run')
            : undefined;
        report.processing.push(
          await retryOnce(`processing ${row.processingMs} ms`, () => runProcessingRow(ctx, scenario, row, inspect)),
        );
        writeJson(report);
      }
    }
    report.seconds = (Date.now() - started) / 1000;
    writeReport(report, { docs: !flags['no-docs'], log });
  } finally {
    await redis?.quit();
    await redisServer?.stop();
  }
}

await main();
