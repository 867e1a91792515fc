import type { DefaultJobOptions } from 'bullmq';
import { hashTag } from '../redis/keys.js';

/**
 * The queues of one pipeline and what their jobs carry. Every queue lives under the
 * pipeline's hash tag (BullMQ `prefix`), so bull-board can show all of them and Redis
 * Cluster keeps them in one slot.
 */
export const QUEUE_NAMES = {
  ingest: 'ingest',
  flush: 'flush',
  deliverSingle: 'deliver-single',
  deliverBulk: 'deliver-bulk',
  bulkStatus: 'bulk-status',
  deadLetter: 'dead-letter',
} as const;

export type QueueName = (typeof QUEUE_NAMES)[keyof typeof QUEUE_NAMES];

/** BullMQ's `prefix` option for a pipeline. */
export function bullPrefix(prefix: string): string {
  return hashTag(prefix);
}

/** One producer batch: raw events as received, with the source that sent them. */
export interface IngestJob {
  source: string;
  receivedAt: number;
  events: unknown[];
}

/** One claim: the visitors a flush took for one delivery. The job id is the claim id. */
export interface DeliverJob {
  claimId: string;
  visitors: string[];
  /**
   * Bulk only: batches an earlier run of this job posted before a submit failed. They are
   * at Target and stay tracked (their status job polls them too), so none of them can land
   * after newer values.
   */
  submitted?: BulkBatch[];
}

/** One bulk batch of a claim, as the status job tracks it. */
export interface BulkBatch {
  /** The status link Target's submit answer named; empty while the rows wait to be sent again (`retryAt`). */
  statusUrl: string;
  visitors: string[];
  submittedAt: number;
  polls: number;
  /** Times these rows were submitted again because Target said `stuck` or the give-up time passed. */
  resubmits: number;
  /** Rows Target listed as failed go again: this is their attempt number (1 for the first file). */
  rowAttempt?: number;
  /** Failed rows waiting for their retry: when to submit them again (epoch ms). */
  retryAt?: number;
  /** Set once the "status unreadable" warning was logged for this batch, so it is logged once. */
  warned?: string;
}

/** Bulk batches of one claim that Target is processing, polled by a delayed job (id = claim id). */
export interface BulkStatusJob {
  claimId: string;
  batches: BulkBatch[];
}

/** Pipeline stages, as named in dead letters. */
export type Stage = 'intake' | 'map' | 'deliver-single' | 'deliver-bulk' | 'bulk-status';

/**
 * The `source` of a dead letter without one producer: a delivery-stage entry (deliver-single,
 * deliver-bulk, bulk-status) whose visitor values came from several sources (its `sources`
 * lists them), or from values the store kept no source for (dlq replays, or stored before
 * sources were kept). Entries written before sources were recorded read as this too.
 */
export const UNKNOWN_SOURCE = 'unknown';

/** A dead letter: what failed, where, why, and everything needed to replay it. */
export interface DeadLetter {
  stage: Stage;
  /**
   * The producer (intake and map stages, from its API key or SDK setting); {@link UNKNOWN_SOURCE}
   * for delivery stages. Absent only in entries written before it was recorded.
   */
  source?: string;
  /** Delivery stages: every source whose events the held values came from, when known. */
  sources?: string[];
  /** Raw events (map stage) or visitor updates (delivery stages). */
  events?: unknown[];
  /** Visitor updates: the values that did not land, with their `<occurredAt>|<event id>` stamps. */
  visitors?: Array<{ vk: string; attributes: Record<string, { value: string; stamp: string }>; sources?: string[] }>;
  error: { class: string; code: string; message: string; status?: number; bodyExcerpt?: string };
  /**
   * Runs of the job that ended here, the last included: every retry, including the delayed
   * runs after BullMQ's own attempts were spent (BullMQ `attemptsStarted`).
   */
  attempts: number;
  /** When the job was created (its first attempt started then or later), epoch ms. */
  firstAttemptAt: number;
  lastAttemptAt: number;
  /**
   * Set when one failure was written as several entries (src/dlq/writer.ts splits past
   * DEAD_LETTER_MAX_ITEMS visitors or events): this is part `n` (1-based) of `of`, and
   * `group` is the id every part's id starts with. Each part replays on its own.
   */
  part?: { n: number; of: number; group: string };
}

/**
 * Retry policy per queue. Ingest and delivery jobs keep their data until done; completed
 * jobs are dropped so Redis holds the backlog, not history.
 */
export const JOB_OPTIONS: Record<'ingest' | 'deliver' | 'bulkStatus' | 'deadLetter', DefaultJobOptions> = {
  ingest: {
    attempts: 20,
    backoff: { type: 'exponential', delay: 500, jitter: 0.5 },
    removeOnComplete: true,
    removeOnFail: false,
  },
  /** Attempts come from the retry policy (DELIVERY_MAX_ATTEMPTS); `target` honours Retry-After. */
  deliver: {
    backoff: { type: 'target' },
    removeOnComplete: true,
    removeOnFail: { age: 7 * 24 * 3600 },
  },
  bulkStatus: {
    attempts: 1000,
    backoff: { type: 'target' },
    removeOnComplete: true,
    removeOnFail: { age: 7 * 24 * 3600 },
  },
  deadLetter: {
    removeOnComplete: false,
    removeOnFail: false,
  },
};
