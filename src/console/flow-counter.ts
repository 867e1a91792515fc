import type { Logger } from '../logger.js';
import type { RedisClient } from '../redis/connection.js';
import { hashTag } from '../redis/keys.js';

/**
 * The pipeline's flow as the console shows it (docs/operations.md, "Pipeline console"):
 * counts every process adds to Redis, so any process' console sees the whole pipeline.
 * - `received`, `rejected`: events at HTTP intake (file import and the SDK bypass it);
 * - `merged`: events the merge applied;
 * - `delivered`: visitor updates Target accepted (single: answered; bulk: rows a complete
 *   batch counted successful);
 * - `dead_lettered`: events or visitors written to dead letters;
 * - `status_polls`: bulk batch-status calls to Target.
 */
export const FLOW_COUNTS = ['received', 'rejected', 'merged', 'delivered', 'dead_lettered', 'status_polls'] as const;
export type FlowCount = (typeof FLOW_COUNTS)[number];

/** How often a process writes what it counted: at most one MULTI a second, whatever the traffic. */
export const FLOW_FLUSH_MS = 1000;

/** Minutes of per-minute counts the console reads to give rates. */
export const FLOW_RATE_MINUTES = 5;

/** Per-minute counts expire after the rate window and a margin: a few small hashes at most. */
const MINUTE_TTL_MS = (FLOW_RATE_MINUTES + 2) * 60_000;

/** Keys under the pipeline's hash tag, so one MULTI covers them on a Redis Cluster too. */
export function flowKeys(prefix: string) {
  const root = hashTag(prefix);
  return {
    /** Totals since the prefix was created: field per {@link FlowCount}. */
    totals: `${root}:flow`,
    /** Counts of one minute (`floor(epoch ms / 60,000)`). */
    minute: (minute: number) => `${root}:flow:m:${minute}`,
    /** Per source: epoch ms of the last accepted event. Bounded by the configured sources. */
    sources: `${root}:flow:sources`,
  };
}

/** What one intake request counted. */
export interface IntakeTally {
  received: number;
  rejected: number;
  accepted: number;
}

/**
 * Counts in memory and writes them to Redis once per FLOW_FLUSH_MS, so a busy intake or a
 * 50,000-row batch costs no Redis call of its own. What a crash loses is under a second of
 * counts; a flush that fails keeps its counts for the next one. While Redis is not
 * connected nothing is sent (commands would queue in the client).
 */
export class FlowCounter {
  private counts = new Map<FlowCount, number>();
  private lastEvent = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private warned = false;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly logger: Logger,
  ) {}

  add(name: FlowCount, n: number): void {
    if (!(n > 0)) return;
    this.counts.set(name, (this.counts.get(name) ?? 0) + n);
  }

  /** One intake request; a request with accepted events also stamps its source's last event time. */
  recordIntake(source: string, tally: IntakeTally, now = Date.now()): void {
    this.add('received', tally.received);
    this.add('rejected', tally.rejected);
    if (tally.accepted > 0) this.lastEvent.set(source, Math.max(now, this.lastEvent.get(source) ?? 0));
  }

  /** Starts the periodic flush; the timer never keeps the process alive. */
  start(everyMs = FLOW_FLUSH_MS): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => void this.flush(), everyMs);
    this.timer.unref();
  }

  /** Writes what was counted since the last flush. One flush at a time. */
  async flush(now = Date.now()): Promise<void> {
    await this.flushing;
    if (this.counts.size === 0 && this.lastEvent.size === 0) return;
    if (this.redis.status !== 'ready') return;
    const counts = this.counts;
    const lastEvent = this.lastEvent;
    this.counts = new Map();
    this.lastEvent = new Map();
    this.flushing = this.write(counts, lastEvent, now).catch((error: unknown) => {
      // Kept for the next flush: the console's numbers are late, not wrong.
      for (const [name, n] of counts) this.add(name, n);
      for (const [source, at] of lastEvent) this.lastEvent.set(source, Math.max(at, this.lastEvent.get(source) ?? 0));
      if (!this.warned)
        this.logger.warn({ code: (error as NodeJS.ErrnoException).code }, 'console flow counts not written: retrying');
      this.warned = true;
    });
    await this.flushing;
    this.flushing = undefined;
  }

  /** Stops the timer and writes what is left. */
  async close(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  private async write(counts: Map<FlowCount, number>, lastEvent: Map<string, number>, now: number): Promise<void> {
    const keys = flowKeys(this.prefix);
    const minuteKey = keys.minute(Math.floor(now / 60_000));
    const multi = this.redis.multi();
    for (const [name, n] of counts) {
      multi.hincrby(keys.totals, name, n);
      multi.hincrby(minuteKey, name, n);
    }
    if (counts.size > 0) multi.pexpire(minuteKey, MINUTE_TTL_MS);
    // Another process may write a second older time just after: the console says "seen
    // seconds ago", so a second does not matter and no script is needed.
    for (const [source, at] of lastEvent) multi.hset(keys.sources, source, String(at));
    const replies = await multi.exec();
    if (replies === null) throw new Error('flow counts: MULTI aborted');
    for (const [error] of replies) if (error !== null) throw error;
    this.warned = false;
  }
}

/** What the console reads back: totals, the last minutes' counts, and each source's last event. */
export interface FlowReading {
  totals: Partial<Record<FlowCount, number>>;
  /** Oldest first: the current minute and the FLOW_RATE_MINUTES before it. */
  minutes: Array<{ minute: number; counts: Partial<Record<FlowCount, number>> }>;
  sources: Record<string, number>;
}

export async function readFlow(redis: RedisClient, prefix: string, now = Date.now()): Promise<FlowReading> {
  const keys = flowKeys(prefix);
  const current = Math.floor(now / 60_000);
  const minutes = Array.from({ length: FLOW_RATE_MINUTES + 1 }, (_, i) => current - FLOW_RATE_MINUTES + i);
  const [totals, sources, ...perMinute] = await Promise.all([
    redis.hgetall(keys.totals),
    redis.hgetall(keys.sources),
    ...minutes.map((m) => redis.hgetall(keys.minute(m))),
  ]);
  return {
    totals: numbers(totals),
    minutes: minutes.map((minute, i) => ({ minute, counts: numbers(perMinute[i] ?? {}) })),
    sources: Object.fromEntries(Object.entries(sources).map(([source, at]) => [source, Number(at)])),
  };
}

/** Known counts as numbers; fields this version does not know are left out. */
function numbers(hash: Record<string, string>): Partial<Record<FlowCount, number>> {
  const out: Partial<Record<FlowCount, number>> = {};
  for (const name of FLOW_COUNTS) {
    const value = Number(hash[name]);
    if (Number.isFinite(value) && hash[name] !== undefined) out[name] = value;
  }
  return out;
}
