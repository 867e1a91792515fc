import type { Pipeline } from '../pipeline.js';
import type { Metrics } from '../metrics/metrics.js';
import type { HoldState } from '../deliver/credentials-hold.js';
import type { BudgetState } from '../quota/budgets.js';
import { infoField } from '../redis/connection.js';

/** What a scrape reads from Redis: the slice of Pipeline it needs. */
export type ScrapeSource = Pick<
  Pipeline,
  'redis' | 'queues' | 'store' | 'budgets' | 'credentialsHold' | 'deadLettersTrimmed'
>;

/** Longest a scrape waits for Redis; Prometheus' own scrape timeout is usually 10 s. */
export const SCRAPE_REDIS_TIMEOUT_MS = 2000;

/**
 * Sets the gauges that describe shared state (queue sizes, pending and in-flight visitors,
 * merge outcomes, Redis memory, budgets) from Redis, just before a scrape is rendered.
 * When Redis is not connected, or too slow, those gauges are cleared rather than left at
 * stale values, and `ti_redis_up` turns 0: the process' own counters are still served.
 */
export async function refreshSharedGauges(
  metrics: Metrics,
  source: ScrapeSource,
  timeoutMs = SCRAPE_REDIS_TIMEOUT_MS,
): Promise<void> {
  const shared = [
    metrics.queueJobs,
    metrics.visitorsPending,
    metrics.visitorsInFlight,
    metrics.storeEvents,
    metrics.redisMemory,
    metrics.budgetRemaining,
    metrics.budgetRecentCalls,
    metrics.budgetPaused,
    metrics.targetAuthOk,
    metrics.targetAuthHeld,
    metrics.deadLettersTrimmed,
  ];
  for (const gauge of shared) gauge.reset();
  // A disconnected client queues commands until Redis is back (maxRetriesPerRequest null):
  // asking it now would pile up one batch per scrape, so report "down" without asking.
  if (source.redis.status !== 'ready') {
    metrics.redisUp.set(0);
    return;
  }
  try {
    await withTimeout(readInto(metrics, source), timeoutMs);
    metrics.redisUp.set(1);
  } catch {
    for (const gauge of shared) gauge.reset();
    metrics.redisUp.set(0);
  }
}

/** A budget as every process sees it: its settings and what a peek at it answers. */
export interface BudgetReading {
  name: string;
  /** Calls allowed per window. */
  limit: number;
  windowMs: number;
  state: BudgetState;
}

/**
 * The pipeline's shared state in Redis, as a scrape and the console (src/console/) read it:
 * one place, so both show the same numbers.
 */
export interface SharedState {
  queues: Array<{ name: string; counts: Record<string, number> }>;
  /** Visitors waiting for their coalescing window, and claimed by a delivery. */
  pending: number;
  inFlight: number;
  /** Merge outcomes counted by the merge script (`events_applied`, ...). */
  mergeStats: Record<string, number>;
  redisMemory: { used?: number; max?: number };
  budgets: BudgetReading[];
  hold: HoldState | undefined;
  deadLettersTrimmed: number;
}

/** Reads {@link SharedState}: a handful of Redis calls, all at once. */
export async function readSharedState(source: ScrapeSource): Promise<SharedState> {
  const queues = Object.values(source.queues);
  // Every budget the pipeline keeps (single, bulk), so a new one is reported without a change here.
  const budgets = Object.entries(source.budgets);
  const [counts, pending, inFlight, stats, memory, budgetStates, hold, trimmed] = await Promise.all([
    Promise.all(queues.map(async (queue) => ({ name: queue.name, counts: await queue.getJobCounts() }))),
    source.store.pendingVisitors(),
    source.store.inFlightVisitors(),
    source.store.stats(),
    source.redis.info('memory'),
    Promise.all(
      budgets.map(async ([name, budget]) => ({
        name,
        limit: budget.settings.limit,
        windowMs: budget.settings.windowMs,
        state: await budget.peek(),
      })),
    ),
    source.credentialsHold(),
    source.deadLettersTrimmed(),
  ]);
  const used = infoField(memory, 'used_memory');
  const max = infoField(memory, 'maxmemory');
  return {
    queues: counts,
    pending,
    inFlight,
    mergeStats: stats,
    redisMemory: { ...(used !== undefined ? { used } : {}), ...(max !== undefined ? { max } : {}) },
    budgets: budgetStates,
    hold,
    deadLettersTrimmed: trimmed,
  };
}

async function readInto(metrics: Metrics, source: ScrapeSource): Promise<void> {
  const shared = await readSharedState(source);
  metrics.deadLettersTrimmed.set(shared.deadLettersTrimmed);
  metrics.targetAuthOk.set(shared.hold === undefined ? 1 : 0);
  metrics.targetAuthHeld.set(shared.hold === undefined ? 0 : Math.max(0, Date.now() - shared.hold.since) / 1000);
  for (const { name, counts: byState } of shared.queues) {
    for (const [state, n] of Object.entries(byState)) {
      metrics.queueJobs.set({ queue: name, state }, n);
    }
  }
  metrics.visitorsPending.set(shared.pending);
  metrics.visitorsInFlight.set(shared.inFlight);
  for (const [field, n] of Object.entries(shared.mergeStats)) {
    // Fields are fixed by the merge script (events_applied, events_late_dropped, ...): bounded.
    metrics.storeEvents.set({ outcome: field.replace(/^events_/, '') }, n);
  }
  const { used, max } = shared.redisMemory;
  if (used !== undefined) metrics.redisMemory.set({ kind: 'used' }, used);
  if (max !== undefined) metrics.redisMemory.set({ kind: 'max' }, max);
  for (const { name, state } of shared.budgets) {
    metrics.budgetRemaining.set({ budget: name }, state.remaining);
    metrics.budgetRecentCalls.set({ budget: name }, state.recent);
    metrics.budgetPaused.set({ budget: name }, state.pausedForMs / 1000);
  }
}

/** Resolves like `promise`, or rejects after `ms`; the timer never keeps the process alive. */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
