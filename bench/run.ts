/**
 * `npm run bench [-- --quick]`: issue 8's benchmark. Starts its own redis-server (no
 * persistence, noeviction), runs the baselines and W1–W4 through the pipeline in each
 * delivery mode, prints the table and the targets, writes bench/results/latest.json and
 * the README's "Performance" section. Flags: see `usage` below.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { spawnRedis, type SpawnedRedis } from '../test/harness/redis-server.js';
import { ROOT } from '../test/harness/spawn-process.js';
import { runNaive, runNoop } from './baselines.js';
import type { BenchContext } from './measure-run.js';
import { runPipeline, type DeliveryMode, type PipelineResult } from './pipeline-run.js';
import { describeMachine, writeReport, type BenchReport } from './report.js';
import { installInterruptHandlers, onInterrupt } from './processes.js';
import { VISITORS, type WorkloadName, type WorkloadSpec } from './workloads.js';

const usage = `npm run bench -- [--quick] [--events N] [--latency MS] [--window MS] [--modes single,auto]
  [--workloads W1,W2,W3,W4] [--naive-events N] [--noop-events N] [--env KEY=VALUE ...] [--profile] [--no-readme]`;

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
    'no-readme': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (flags.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}

const events = Number(flags.events ?? (flags.quick ? 100_000 : 1_000_000));
// The naive baseline makes one 20 ms call per event: a sample is enough for its steady rate.
const naiveEvents = Number(flags['naive-events'] ?? (flags.quick ? 10_000 : 50_000));
const noopEvents = Number(flags['noop-events'] ?? (flags.quick ? 50_000 : 200_000));
const modes = flags.modes.split(',') as DeliveryMode[];
const workloads = new Set(flags.workloads.split(',') as WorkloadName[]);
const log = (line: string) => process.stdout.write(`${line}\n`);

/** The roles run from dist/: rebuild when any source is newer than the build. */
function ensureBuilt(): void {
  const newest = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce((m, e) => Math.max(m, e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs), 0);
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

async function main(): Promise<void> {
  installInterruptHandlers();
  ensureBuilt();
  const extraEnv = Object.fromEntries(flags.env.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  if (flags.profile) {
    const dir = join(ROOT, 'bench/results/profiles');
    mkdirSync(dir, { recursive: true });
    extraEnv.NODE_OPTIONS = `--cpu-prof --cpu-prof-dir=${dir}`;
  }
  let redisServer: SpawnedRedis | undefined;
  let redis: Redis | undefined;
  const started = Date.now();
  try {
    redisServer = await spawnRedis({ appendOnly: false });
    const stopRedis = redisServer.stop.bind(redisServer);
    onInterrupt(stopRedis);
    redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
    const ctx: BenchContext = {
      redis, redisUrl: redisServer.url, redisPid: redisServer.process.pid ?? NaN,
      latencyMs: Number(flags.latency), windowMs: Number(flags.window),
      // A fixed hour in the past, so event times (and thus the workload) repeat run to run.
      baseMs: Math.floor(Date.now() / 3_600_000) * 3_600_000 - 6 * 3_600_000,
      batchSize: 1000, inFlight: 4, env: extraEnv, drainTimeoutMs: flags.quick ? 60_000 : 300_000, stallMs: flags.quick ? 20_000 : 90_000, log,
    };
    const machine = await describeMachine(redis);
    log(`bench: ${machine.summary}; ${events} events per workload; latency ${ctx.latencyMs} ms; window ${ctx.windowMs} ms`);
    const report: BenchReport = { startedAt: new Date(started).toISOString(), quick: flags.quick, machine, settings: { events, latencyMs: ctx.latencyMs, windowMs: ctx.windowMs, naiveEvents, noopEvents, env: extraEnv }, runs: [] };

    report.runs.push(await runNoop(ctx, spec('W1', noopEvents), 'BullMQ no-op'));
    report.runs.push(await runNaive(ctx, spec('W1', naiveEvents), 'naive W1'));
    for (const mode of modes) {
      if (!workloads.has('W1')) continue;
      const w1: PipelineResult = await runPipeline(ctx, spec('W1', events), mode, `W1 ${mode}`);
      report.runs.push(w1);
      // The rate the pipeline sustains end to end: the slower of intake and delivery.
      const maxRate = Math.min(w1.acceptedPerSec, w1.accepted / Math.max(w1.doneSeconds - ctx.windowMs / 1000, 0.001));
      report.runs.push(await runPipeline(ctx, spec('W1', events, { kind: 'steady', eventsPerSecond: Math.round(maxRate / 2) }), mode, `W1 ${mode} @50%`));
      if (workloads.has('W2')) report.runs.push(await runPipeline(ctx, spec('W2', events), mode, `W2 ${mode}`));
      if (workloads.has('W3')) report.runs.push(await runPipeline(ctx, spec('W3', events), mode, `W3 ${mode}`));
      if (workloads.has('W4')) report.runs.push(await runPipeline(ctx, spec('W4', events, { kind: 'bursts', eventsPerSecond: Math.round(maxRate / 10) }), mode, `W4 ${mode}`));
    }
    report.seconds = (Date.now() - started) / 1000;
    writeReport(report, { readme: !flags['no-readme'], log });
  } finally {
    await redis?.quit();
    await redisServer?.stop();
  }
}

await main();
