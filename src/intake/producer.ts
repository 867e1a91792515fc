import { IntakeMarks } from '../coalesce/dedupe.js';
import { resolveMapping, type CompiledMapping, type MappingSpec } from '../events/index.js';
import { openQueue } from '../jobs/queues.js';
import type { RedisClient } from '../redis/connection.js';
import { acceptEvents, type AcceptSummary, type EventResult } from './accept.js';

export interface ProducerOptions {
  /** An ioredis connection to the pipeline's Redis, a `Redis` or a `Cluster` (not closed by the producer). */
  connection: RedisClient;
  /** The pipeline's prefix (REDIS_PREFIX), default `ti`. */
  prefix?: string;
  /** Name of the sending system, recorded on every event; default `sdk`. */
  source?: string;
  /** The pipeline's mapping, when it differs from the default table. */
  mapping?: MappingSpec;
  /** Dedupe window; must match the pipeline's DEDUPE_WINDOW_MS. Default 7 days. */
  dedupeWindowMs?: number;
  /** The pipeline's REDIS_SHARDS; must match it. Default 1. */
  shards?: number;
  /** Longest attribute value; default 256. */
  maxValueLength?: number;
  /**
   * Keep completed ingest jobs for a while (the pipeline's KEEP_COMPLETED_JOBS): default
   * true. The jobs this producer adds carry the setting, whatever the map worker's is.
   */
  keepCompletedJobs?: boolean;
}

/** The TypeScript producer SDK. */
export interface Producer {
  /** Sends one event; resolves once Redis holds it (or with why it was not taken). */
  send(event: unknown): Promise<EventResult>;
  /** Sends a batch as few BullMQ jobs; one result per event, in order. */
  sendMany(events: readonly unknown[]): Promise<AcceptSummary>;
  close(): Promise<void>;
}

/**
 * Creates a producer that writes straight into the pipeline's ingest queue. Every promise
 * resolves only after the events are stored in Redis (P1); each event comes back accepted,
 * duplicate (its id was already taken in from this source) or rejected with per-field reasons.
 */
export function createProducer(options: ProducerOptions): Producer {
  const prefix = options.prefix ?? 'ti';
  const source = options.source ?? 'sdk';
  // Validation only: a producer needs no salt of a hashed attribute (the map worker hashes).
  const mapping: CompiledMapping = resolveMapping(options.mapping, { validationOnly: true });
  // Connection trouble surfaces as rejected sends; the queue's own error events add nothing.
  const ingestQueue = openQueue('ingest', options.connection, {
    redisPrefix: prefix,
    keepCompleted: options.keepCompletedJobs ?? true,
  });
  const marks = new IntakeMarks(
    options.connection,
    prefix,
    options.dedupeWindowMs ?? 7 * 24 * 3600 * 1000,
    options.shards ?? 1,
  );
  const deps = { ingestQueue, marks, mapping, maxValueLength: options.maxValueLength ?? 256 };
  return {
    async send(event) {
      const summary = await acceptEvents(deps, source, [event]);
      const [result] = summary.results;
      if (result === undefined) throw new Error('intake returned no result for the event');
      return result;
    },
    sendMany: (events) => acceptEvents(deps, source, events),
    close: () => ingestQueue.close(),
  };
}
