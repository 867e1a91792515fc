/**
 * The "bulk processing time" runs: how bulk throughput and latency change when Target keeps
 * a batch `incomplete` for 0 s, 30 s or 10 minutes (Adobe: "generally under one hour … as
 * long as 24 hours"). Ten real minutes per run are out of reach, so each run is time-scaled:
 * every time constant of the scenario is divided by a scale factor s, the run takes 1/s of
 * the real time, and its figures are converted back (durations × s, rates ÷ s).
 *
 * Divided by s: the batch processing time (simulator `batchProcessingMs`), the pipeline's
 * BULK_STATUS_POLL_MS, BULK_STATUS_MIN_POLL_MS, BULK_STATUS_FIRST_POLL_MAX_MS (the first poll
 * learns from how long batches take, src/deliver/first-poll.ts), BULK_STATUS_MAX_POLL_MS, BULK_CALLS_WINDOW_MS (with the simulator's
 * rate-limit window, so the documented 50 bulk calls a minute become 50 per 60/s seconds on
 * both sides), COALESCE_WINDOW_MS, COALESCE_MAX_WAIT_MS, FLUSH_INTERVAL_MS (never below
 * FLUSH_FLOOR_MS), RETRY_BASE_MS, RETRY_MAX_MS, BULK_STATUS_GIVE_UP_MS, the simulator's
 * per-call latency, and the producer's send duration (same events, s times the rate).
 * Not divided: CLAIM_LEASE_MS, WORKER_LOCK_MS, TARGET_TIMEOUT_MS (crash recovery and
 * timeouts that a healthy run never reaches), retention times (days).
 *
 * What scaling does not capture (the report says so too): CPU and Redis work per event are
 * not scaled, so a scaled run asks s times the real event rate of the machine (the scenario
 * keeps that rate well below what W1 sustains); the flusher's bulk pacer never waits less
 * than 1 s (`bulkRetryMs` in src/flush/role.ts), so at s > 4.8 bulk files that are not full
 * start less often than a real pipeline would start them (at s = 60 a file per 15–60 real
 * seconds instead of 1.2–19.2 s); the flush interval floor adds up to FLUSH_FLOOR_MS × s of
 * real delay; HTTP and BullMQ overheads (milliseconds) are multiplied by s.
 */
import { LIBRARY_BATCH_PROCESSING_MS } from '../src/simulator/limits.js';
import type { SimulatorOptions } from '../src/simulator/server.js';
import type { BenchContext } from './measure-run.js';
import { runPipeline, type PipelineResult, type PipelineRunOptions } from './pipeline-run.js';
import { deliveredPerSec } from './targets.js';
import { VISITORS, type WorkloadSpec } from './workloads.js';

/** The pipeline's defaults (src/config.ts) and the bench's Target latency: the real-time scenario. */
export const REAL_SETTINGS = {
  COALESCE_WINDOW_MS: 5_000,
  COALESCE_MAX_WAIT_MS: 60_000,
  FLUSH_INTERVAL_MS: 200,
  BULK_STATUS_POLL_MS: 1_000,
  BULK_STATUS_MIN_POLL_MS: 250,
  BULK_STATUS_FIRST_POLL_MAX_MS: 600_000,
  BULK_STATUS_MAX_POLL_MS: 60_000,
  BULK_CALLS_WINDOW_MS: 60_000,
  BULK_STATUS_GIVE_UP_MS: 25 * 3_600_000,
  RETRY_BASE_MS: 1_000,
  RETRY_MAX_MS: 5 * 60_000,
} as const;

/** The flush interval of a scaled run never goes below this (a flush tick costs ~60 Redis commands). */
export const FLUSH_FLOOR_MS = 25;

/** One row: the real processing time Target takes, and the scale it is run at. */
export interface ProcessingRow {
  processingMs: number;
  scale: number;
}

/** The real-time workload every row runs: W1 (Zipf) events arriving steadily, delivered by bulk. */
export interface ProcessingScenario {
  events: number;
  /** Real seconds over which the events arrive. */
  sendSeconds: number;
  rows: ProcessingRow[];
}

/**
 * --quick (each run 10–30 s): one real minute of W1 at 100 events/s; 0 s and 30 s at s = 10
 * (a 6-s send; the 30-s batches take 3 s), 10 minutes at s = 60 (a 1-s send at 6,000
 * events/s; batches take 10 s). The pacer floor stretches its interval 2.1x at s = 10 and
 * 12.5x at s = 60: a check of the 30-s row at s = 4 (no stretch) gave p99 2.6 min against
 * 3.5 min at s = 10, so the quick rows overstate latency. Full: three real minutes at 100
 * events/s, every row at s ≤ 4.8, where the pacer is exact: 0 s unscaled, 30 s and
 * 10 minutes at s = 4 (batches take 7.5 s and 150 s).
 */
export const PROCESSING_SCENARIOS: Record<'quick' | 'full', ProcessingScenario> = {
  quick: {
    events: 6_000,
    sendSeconds: 60,
    rows: [
      { processingMs: 0, scale: 10 },
      { processingMs: 30_000, scale: 10 },
      { processingMs: 600_000, scale: 60 },
    ],
  },
  full: {
    events: 18_000,
    sendSeconds: 180,
    rows: [
      { processingMs: 0, scale: 1 },
      { processingMs: 30_000, scale: 4 },
      { processingMs: 600_000, scale: 4 },
    ],
  },
};

/** `--processing-rows 30000:4,600000:60`: real processing ms and scale per row. */
export function parseProcessingRows(text: string): ProcessingRow[] {
  return text.split(',').map((part) => {
    const [ms, scale] = part.split(':').map(Number);
    if (ms === undefined || scale === undefined || !(ms >= 0) || !(scale >= 1))
      throw new RangeError(`--processing-rows: expected MS:SCALE with MS ≥ 0 and SCALE ≥ 1, got ${part}`);
    return { processingMs: ms, scale };
  });
}

/** What a scaled run is started with. */
export interface ScaledSettings {
  /** Environment of the pipeline's roles. */
  env: Record<string, string>;
  simulator: Pick<SimulatorOptions, 'batchProcessingMs' | 'bulkRateWindowMs' | 'latencyMs'>;
  windowMs: number;
  /** Scaled send duration (s) and the event rate it takes. */
  sendSeconds: number;
  eventsPerSecond: number;
  /**
   * The flusher's bulk pacer interval in this run, in real ms (× s): src/flush/role.ts (bulkRetryMs) takes
   * max(1000, ⌊BULK_CALLS_WINDOW_MS ÷ BULK_CALLS_PER_MINUTE⌋ × 4), 4,800 ms unscaled; the
   * 1,000-ms floor makes it longer than 4,800 ms once s > 4.8.
   */
  realPacerMs: number;
}

const div = (ms: number, s: number) => Math.max(1, Math.round(ms / s));

/** The settings of one row, every time constant divided by its scale (pure). */
export function scaledSettings(
  row: ProcessingRow,
  scenario: Pick<ProcessingScenario, 'events' | 'sendSeconds'>,
  targetLatencyMs: number,
): ScaledSettings {
  const s = row.scale;
  if (!(s >= 1)) throw new RangeError(`scale must be at least 1, got ${s}`);
  const env: Record<string, string> = { DELIVERY_MODE: 'bulk' };
  for (const [name, ms] of Object.entries(REAL_SETTINGS)) env[name] = String(div(ms, s));
  env.FLUSH_INTERVAL_MS = String(Math.max(FLUSH_FLOOR_MS, div(REAL_SETTINGS.FLUSH_INTERVAL_MS, s)));
  // The documented budget per window stays 50: only the window shrinks.
  env.BULK_CALLS_PER_MINUTE = '50';
  const sendSeconds = scenario.sendSeconds / s;
  return {
    env,
    simulator: {
      batchProcessingMs: Math.round(row.processingMs / s),
      bulkRateWindowMs: div(REAL_SETTINGS.BULK_CALLS_WINDOW_MS, s),
      latencyMs: Math.round(targetLatencyMs / s),
    },
    windowMs: div(REAL_SETTINGS.COALESCE_WINDOW_MS, s),
    sendSeconds,
    eventsPerSecond: scenario.events / sendSeconds,
    realPacerMs: Math.max(1000, Math.floor(Number(env.BULK_CALLS_WINDOW_MS) / 50) * 4) * s,
  };
}

/** One row's figures in real time (converted back from the scaled run). */
export interface ProcessingResult {
  kind: 'processing';
  label: string;
  /** Real processing time of a batch, and the scale it ran at. */
  processingMs: number;
  scale: number;
  scaled: ScaledSettings;
  events: number;
  accepted: number;
  /** Real events per second offered (events ÷ real send time). */
  inputPerSec: number;
  /** Real events per second delivered end to end: events ÷ (time until Target held them all − the window). NaN when not all arrived. */
  deliveredPerSec: number;
  /** Real seconds from the first send until Target held every event. */
  doneSeconds: number;
  /** Real milliseconds from acceptance to the value at Target. */
  latency: { p50: number; p99: number; max: number };
  calls: { single: number; bulk: number; status: number; failed: number };
  complete: boolean;
  settled: boolean;
  differences: number;
  lost: number;
  outstanding: number;
  deadLetters: number;
  /** The scaled run's own figures (times as measured, not converted). */
  run: PipelineResult;
}

/** Converts a scaled run back to real time: durations × s, rates ÷ s (pure). */
export function toRealTime(
  run: PipelineResult,
  row: ProcessingRow,
  scaled: ScaledSettings,
  label: string,
): ProcessingResult {
  const s = row.scale;
  return {
    kind: 'processing',
    label,
    processingMs: row.processingMs,
    scale: s,
    scaled,
    events: run.events,
    accepted: run.accepted,
    inputPerSec: scaled.eventsPerSecond / s,
    deliveredPerSec: deliveredPerSec(run) / s,
    doneSeconds: run.doneSeconds * s,
    latency: { p50: run.latency.p50 * s, p99: run.latency.p99 * s, max: run.latency.max * s },
    calls: { single: run.calls.single, bulk: run.calls.bulk, status: run.calls.status, failed: run.calls.failed },
    complete: run.complete,
    settled: run.settled,
    differences: run.differences.length,
    lost: run.lost,
    outstanding: run.outstanding,
    deadLetters: run.deadLetters,
    run,
  };
}

/** "10 min", "30 s", "0 s". */
export function formatProcessing(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${ms / 1000} s`;
}

/** Runs one row: W1 at a steady scaled rate through DELIVERY_MODE=bulk against a simulator whose batches take the scaled time. */
export async function runProcessingRow(
  ctx: BenchContext,
  scenario: ProcessingScenario,
  row: ProcessingRow,
  inspect?: PipelineRunOptions['inspect'],
): Promise<ProcessingResult> {
  const scaled = scaledSettings(row, scenario, ctx.latencyMs);
  const label = `bulk, batches take ${formatProcessing(row.processingMs)} (s=${row.scale})`;
  const processing = scaled.simulator.batchProcessingMs ?? LIBRARY_BATCH_PROCESSING_MS;
  const maxPoll = Number(scaled.env.BULK_STATUS_MAX_POLL_MS);
  const spec: WorkloadSpec = {
    name: 'W1',
    title: 'Zipf 1.0',
    events: scenario.events,
    visitors: VISITORS,
    seed: 101,
    pick: 'zipf',
    pace: { kind: 'steady', eventsPerSecond: scaled.eventsPerSecond },
  };
  const runCtx: BenchContext = {
    ...ctx,
    windowMs: scaled.windowMs,
    latencyMs: scaled.simulator.latencyMs ?? 0,
    // Batches of 100 events, so the arrival is a stream, not six lumps.
    batchSize: 100,
    env: { ...ctx.env, ...scaled.env },
    // Nothing reaches Target while the claims in flight are processed (BULK_MAX_CLAIMS_IN_FLIGHT
    // of them): a visitor can wait for a claim to complete and then for its own batch.
    stallMs: Math.max(ctx.stallMs, 2 * processing + 2 * maxPoll + 5_000),
    drainTimeoutMs: Math.max(ctx.drainTimeoutMs, scaled.sendSeconds * 1000 + 3 * processing + 4 * maxPoll + 30_000),
    // The last batch's `complete` is read by a poll at most BULK_STATUS_MAX_POLL_MS after it lands.
    settleMs: Math.max(ctx.settleMs, maxPoll + 2_000),
  };
  ctx.log(
    `${label}: ${scenario.events} events over ${scaled.sendSeconds.toFixed(1)} s (${scenario.sendSeconds} s real), batches incomplete ${processing} ms, window ${scaled.windowMs} ms, first poll ${scaled.env.BULK_STATUS_POLL_MS} ms`,
  );
  const run = await runPipeline(runCtx, spec, 'bulk', label, {
    simulator: scaled.simulator,
    ...(inspect !== undefined ? { inspect } : {}),
  });
  const result = toRealTime(run, row, scaled, label);
  const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
  ctx.log(
    `  real time: ${fmt(result.deliveredPerSec)} events/s delivered, p99 ${fmt(result.latency.p99 / 1000)} s, all at Target after ${fmt(result.doneSeconds)} s`,
  );
  return result;
}
