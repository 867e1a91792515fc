import type { Queue } from 'bullmq';
import { storeKeys } from '../redis/keys.js';
import { infoField, type RedisClient } from '../redis/connection.js';

/**
 * Intake refuses work it cannot hold instead of letting Redis fill up: 429 while the
 * pipeline is behind (too many batches waiting for the map workers, or too many visitors
 * waiting for delivery), 503 while Redis is near its memory limit, unreachable, or the
 * process is shutting down. Both carry Retry-After; a resend is safe (P2).
 */

/** How loaded the pipeline is, as read from Redis. */
export interface PipelineLoad {
  /** Ingest jobs (producer batches) not yet processed: waiting, delayed (retrying) or active. */
  queuedBatches: number;
  /** Visitors with changes waiting for delivery, pending or in flight. */
  pendingVisitors: number;
  /** Redis `used_memory` and `maxmemory` in bytes; maxMemory 0 means no limit. */
  usedMemory: number;
  maxMemory: number;
}

export interface BackpressureLimits {
  maxQueuedBatches: number;
  maxPendingVisitors: number;
  /** Fraction of `maxmemory` above which intake refuses (0-1]. */
  maxMemoryRatio: number;
}

/** Why intake refuses; also the `reason` label of the backpressure metric. */
export type RefusalReason = 'backlog' | 'redis_memory' | 'redis_unavailable' | 'shutting_down';

/** A refusal: the HTTP status, the metric reason and a sentence for the producer. */
export interface Refusal {
  ok: false;
  status: 429 | 503;
  reason: RefusalReason;
  message: string;
}

export type Verdict = { ok: true } | Refusal;

/** The decision itself, pure: the first limit exceeded, or ok. */
export function judgeLoad(load: PipelineLoad, limits: BackpressureLimits): Verdict {
  if (load.maxMemory > 0 && load.usedMemory > load.maxMemory * limits.maxMemoryRatio) {
    const percent = Math.round((load.usedMemory / load.maxMemory) * 100);
    return refuse(
      503,
      'redis_memory',
      `Redis is at ${percent}% of its memory limit; events are not taken until it drains`,
    );
  }
  if (load.queuedBatches > limits.maxQueuedBatches) {
    return refuse(
      429,
      'backlog',
      `${load.queuedBatches} batches are waiting to be processed (limit ${limits.maxQueuedBatches}); slow down and retry`,
    );
  }
  if (load.pendingVisitors > limits.maxPendingVisitors) {
    return refuse(
      429,
      'backlog',
      `${load.pendingVisitors} visitors are waiting for delivery (limit ${limits.maxPendingVisitors}); slow down and retry`,
    );
  }
  return { ok: true };
}

/** A refusal verdict. */
export function refuse(status: 429 | 503, reason: RefusalReason, message: string): Refusal {
  return { ok: false, status, reason, message };
}

/** Reads the load of one pipeline: one job-count call and one pipelined round trip per shard. */
export async function readPipelineLoad(
  redis: RedisClient,
  ingestQueue: Queue,
  prefix: string,
  shards = 1,
): Promise<PipelineLoad> {
  const perShard = Array.from({ length: shards }, async (_, k) => {
    const keys = storeKeys(prefix, k, shards);
    // Both keys share the shard's slot, so a cluster can take them in one pipeline.
    const replies = await redis.pipeline().zcard(keys.due).zcard(keys.leases).exec();
    const failed = replies?.find(([error]) => error !== null);
    if (replies === null || failed?.[0] != null) throw failed?.[0] ?? new Error('Redis returned no replies');
    return replies.reduce((sum, [, value]) => sum + Number(value), 0);
  });
  const [counts, info, ...visitors] = await Promise.all([
    ingestQueue.getJobCounts('wait', 'prioritized', 'delayed', 'active'),
    redis.info('memory'),
    ...perShard,
  ]);
  return {
    queuedBatches: Object.values(counts).reduce((sum, n) => sum + n, 0),
    pendingVisitors: visitors.reduce((sum, n) => sum + n, 0),
    usedMemory: infoField(String(info), 'used_memory') ?? 0,
    maxMemory: infoField(String(info), 'maxmemory') ?? 0,
  };
}

/**
 * Answers "may intake take this request?" Loads are read at most once per `cacheMs` (a
 * burst of requests shares one Redis round trip); a failed read is cached the same way,
 * so a Redis outage is not hammered by every request.
 */
export class Backpressure {
  private cached: { at: number; verdict: Promise<Verdict> } | undefined;

  constructor(
    private readonly readLoad: () => Promise<PipelineLoad>,
    private readonly limits: BackpressureLimits,
    private readonly cacheMs = 300,
    private readonly now: () => number = Date.now,
  ) {}

  check(): Promise<Verdict> {
    const now = this.now();
    if (this.cached === undefined || now - this.cached.at >= this.cacheMs) {
      const verdict = this.readLoad().then(
        (load) => judgeLoad(load, this.limits),
        () => refuse(503, 'redis_unavailable', 'Redis does not answer; events are not taken until it is back'),
      );
      this.cached = { at: now, verdict };
    }
    return this.cached.verdict;
  }
}
