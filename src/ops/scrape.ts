import type { Pipeline } from '../pipeline.js';
import type { Metrics } from '../metrics/metrics.js';
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

async function readInto(metrics: Metrics, source: ScrapeSource): Promise<void> {
  const queues = Object.values(source.queues);
  // Every budget the pipeline keeps (single, bulk), so a new one is reported without a change here.
  const budgets = Object.entries(source.budgets);
  const [counts, pending, inFlight, stats, memory, budgetStates, hold, trimmed] = await Promise.all([
    Promise.all(queues.map(async (queue) => ({ name: queue.name, counts: await queue.getJobCounts() }))),
    source.store.pendingVisitors(),
    source.store.inFlightVisitors(),
    source.store.stats(),
    source.redis.info('memory'),
    Promise.all(budgets.map(async ([name, budget]) => ({ name, state: await budget.peek() }))),
    source.credentialsHold(),
    source.deadLettersTrimmed(),
  ]);
  metrics.deadLettersTrimmed.set(trimmed);
  metrics.targetAuthOk.set(hold === undefined ? 1 : 0);
  metrics.targetAuthHeld.set(hold === undefined ? 0 : Math.max(0, Date.now() - hold.since) / 1000);
  for (const { name, counts: byState } of counts) {
    for (const [state, n] of Object.entries(byState as Record<string, number>)) {
      metrics.queueJobs.set({ queue: name, state }, n);
    }
  }
  metrics.visitorsPending.set(pending);
  metrics.visitorsInFlight.set(inFlight);
  for (const [field, n] of Object.entries(stats)) {
    // Fields are fixed by the merge script (events_applied, events_late_dropped, ...): bounded.
    metrics.storeEvents.set({ outcome: field.replace(/^events_/, '') }, n);
  }
  const used = infoField(memory, 'used_memory');
  const max = infoField(memory, 'maxmemory');
  if (used !== undefined) metrics.redisMemory.set({ kind: 'used' }, used);
  if (max !== undefined) metrics.redisMemory.set({ kind: 'max' }, max);
  for (const { name, state } of budgetStates) {
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
