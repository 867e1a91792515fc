import { IntakeMarks } from '../coalesce/dedupe.js';
import type { CompiledMapping } from '../events/index.js';
import { openQueue } from '../jobs/queues.js';
import type { RedisClient } from '../redis/connection.js';
import type { IntakeDeps } from './accept.js';

export interface IntakeSettings {
  /** The pipeline's REDIS_PREFIX. */
  prefix: string;
  /** DEDUPE_WINDOW_MS of the pipeline. */
  dedupeWindowMs: number;
  mapping: CompiledMapping;
  /** MAX_VALUE_LENGTH of the pipeline. */
  maxValueLength: number;
  /** REDIS_SHARDS of the pipeline; default 1. */
  shards?: number;
  /** KEEP_COMPLETED_JOBS of the pipeline; default true. */
  keepCompletedJobs?: boolean;
}

/** What {@link acceptBatch} needs, on a connection the caller owns; `close()` leaves the connection open. */
export interface IntakeHandle {
  deps: IntakeDeps;
  close(): Promise<void>;
}

/**
 * Opens the ingest queue and dedupe marks of one pipeline on `connection`, for the HTTP
 * intake and the file import (the SDK in producer.ts does the same for its callers).
 */
export function openIntake(connection: RedisClient, settings: IntakeSettings): IntakeHandle {
  // Connection errors reach the owner of the connection (the queue's own are dropped).
  const ingestQueue = openQueue('ingest', connection, {
    redisPrefix: settings.prefix,
    keepCompleted: settings.keepCompletedJobs ?? true,
  });
  const marks = new IntakeMarks(connection, settings.prefix, settings.dedupeWindowMs, settings.shards ?? 1);
  return {
    deps: { ingestQueue, marks, mapping: settings.mapping, maxValueLength: settings.maxValueLength },
    close: () => ingestQueue.close(),
  };
}
