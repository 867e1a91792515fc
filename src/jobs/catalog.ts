import { UnrecoverableError, type DefaultJobOptions } from 'bullmq';
import { z } from 'zod';
import { hashTag } from '../redis/keys.js';

/**
 * The job catalog: every queue of one pipeline, what its jobs carry (a zod schema, checked
 * where a worker reads job data back from Redis, see {@link readJobData}), its default job
 * options and the settings of its workers. Every queue lives under the pipeline's hash tag
 * (BullMQ `prefix`), so bull-board can show all of them and Redis Cluster keeps them in one
 * slot. docs/architecture.md draws the flow between them.
 */
export const QUEUE_NAMES = {
  /** Producer batches as accepted (HTTP intake, SDK, import); read by the map worker. */
  ingest: 'ingest',
  /** The flusher's scheduler ticks (`flush`) and the dead-letter trim (`trim-dead-letters`). */
  flush: 'flush',
  /** Claims delivered by Single Profile Update calls. */
  deliverSingle: 'deliver-single',
  /** Claims delivered by Bulk Profile Update files. */
  deliverBulk: 'deliver-bulk',
  /** Delayed polls of the bulk batches Target is processing. */
  bulkStatus: 'bulk-status',
  /** Dead letters: kept for operators (dlq CLI, /admin/dead-letters); no worker by design. */
  deadLetter: 'dead-letter',
  /** Delayed read-backs of sampled deliveries through the Fetch Profile API (src/audit/). */
  landingAudit: 'landing-audit',
} as const;

export type QueueKey = keyof typeof QUEUE_NAMES;

/**
 * What each queue is, as the dashboard (bull-board) shows it under the queue's name (with how
 * long its completed jobs stay, src/ops/dashboard.ts). The dead-letter queue says it has no
 * workers by design, where the board would otherwise only warn "No workers".
 */
export const QUEUE_DESCRIPTIONS: Record<QueueKey, string> = {
  ingest:
    'Producer batches as accepted (HTTP intake, SDK, import), one job per batch of up to 1,000 raw events; the map worker merges them into the visitor store. A completed job keeps its source and counts, not its events.',
  flush:
    'The flusher: a scheduler tick every FLUSH_INTERVAL_MS (`flush`) claims due visitors into delivery jobs; `trim-dead-letters` runs once a minute.',
  deliverSingle: 'Claims delivered by Single Profile Update calls, one job per claim.',
  deliverBulk:
    'Claims delivered by Bulk Profile Update files, one job per claim; its batches are then polled on bulk-status.',
  bulkStatus:
    'Delayed polls of the bulk batches Target is processing, one job per claim, acking visitors as batches complete.',
  landingAudit:
    'Landing audit: a sampled delivered visitor read back through the Fetch Profile API after LANDING_AUDIT_DELAY_MS; missing values go again. A `recheck bulk` job holds the visitors of a bulk batch to read back after a lost answer and fans out into checks when due. Removed when done (its data names visitors).',
  deadLetter:
    'Dead letters: no workers by design. Entries wait here for an operator (dlq CLI, /admin/dead-letters: list, replay, purge); nothing consumes this queue, so "No workers" is expected. Trimmed past DEAD_LETTER_MAX_COUNT / DEAD_LETTER_MAX_AGE_MS.',
};

/** BullMQ's `prefix` option for a pipeline. */
export function bullPrefix(prefix: string): string {
  return hashTag(prefix);
}

/**
 * One producer batch, with the source that sent it: its events as objects (`events`: dead
 * letters replayed, jobs of older releases) or, as intake stores them, as compact rows
 * (`rows`, src/jobs/ingest-rows.ts). Read them with `ingestEvents`.
 */
export interface IngestJob {
  source: string;
  receivedAt: number;
  events?: unknown[];
  /** The events intake validated, one `[id, type, occurredAt, visitor, data?]` array each. */
  rows?: unknown[];
  /**
   * The envelope rules (ENVELOPE_RULES, src/events/envelope-check.ts) every event was checked
   * under when it was taken in; the map worker does not check the envelope again when they are
   * its own. Absent (dead letters replayed, jobs of older releases): the map validates fully.
   */
  checkedEnvelope?: number;
}

/** Ingest jobs intake numbers itself (one shard) have ids `intake-<number>`. */
export const INTAKE_JOB_ID_PREFIX = 'intake-';

/** The id of intake's ingest job number `n`. */
export function intakeJobId(n: number): string {
  return `${INTAKE_JOB_ID_PREFIX}${n}`;
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
  /**
   * Visitors whose call (single) or file (bulk: `bulkSubmitMayLand`) failed in a way that may
   * still land at Target (`mayLandLater`, src/errors.ts); once a later attempt is accepted
   * (bulk: once their row of a later batch is complete), their landing is read back
   * (src/audit/landing-schedule.ts) whatever LANDING_AUDIT_SAMPLE is.
   */
  answerLost?: string[];
  /** Bulk only: when the last such file left (epoch ms); Adobe's 24 hours count from it. */
  answerLostAt?: number;
}

/** One bulk batch of a claim, as the status job tracks it. */
export interface BulkBatch {
  /** The status link Target's submit answer named; empty while the rows wait to be sent again (`retryAt`). */
  statusUrl: string;
  visitors: string[];
  submittedAt: number;
  polls: number;
  /** The first poll's delay this batch was given (src/deliver/first-poll.ts); absent after a resubmit. */
  firstPollMs?: number;
  /** Times these rows were submitted again because Target said `stuck` or the give-up time passed. */
  resubmits: number;
  /** Rows Target listed as failed go again: this is their attempt number (1 for the first file). */
  rowAttempt?: number;
  /** Failed rows waiting for their retry: when to submit them again (epoch ms). */
  retryAt?: number;
  /** Set once the "status unreadable" warning was logged for this batch, so it is logged once. */
  warned?: string;
  /** When the last poll answered that the batch was not complete yet (epoch ms). */
  answeredAt?: number;
}

/** Bulk batches of one claim that Target is processing, polled by a delayed job (id = claim id). */
export interface BulkStatusJob {
  claimId: string;
  batches: BulkBatch[];
  /**
   * Visitors of the claim with a copy at Target that is no longer tracked (a submit whose
   * answer was lost, a batch submitted again after `stuck` or the give-up time): read back
   * once their row of a tracked batch is complete (src/deliver/untracked-copies.ts).
   */
  answerLost?: string[];
  /** When the last of those copies left (epoch ms). */
  answerLostAt?: number;
}

/**
 * One sampled delivery to read back from Target once LANDING_AUDIT_DELAY_MS has passed
 * (src/deliver/landing-audit.ts). It holds event stamps, never values: the values are the
 * store's delivered hash, read when the check runs.
 */
export interface LandingAuditJob {
  /** The visitor key, `pc:<mboxPC>` or `3p:<mbox3rdPartyId>`. */
  vk: string;
  /** When the delivery left for Target (epoch ms): the single call, or the bulk file's submit. */
  sentAt: number;
  /** How it went, and Target's batch id for bulk (the delivery log names them). */
  route: 'single' | 'bulk';
  batchId?: string;
  /**
   * Per attribute delivered: the stamp (`<occurredAt>|<event id>`) of its value. Empty in a
   * check fanned out by a {@link LandingRecheckJob}: every attribute delivered is judged.
   */
  attributes: Record<string, string>;
  /**
   * Scheduled because an earlier call for this visitor failed in a way that may still land
   * (`mayLandLater`, src/errors.ts), not sampled: any value at Target other than the one
   * delivered is then sent again, however recently Target says it changed.
   */
  afterLostAnswer?: boolean;
}

/**
 * A strict read-back of many visitors of one bulk batch (their untracked copies at Target,
 * src/deliver/untracked-copies.ts), on the `landing-audit` queue. When due it fans out one
 * {@link LandingAuditJob} per visitor (`afterLostAnswer`, every delivered attribute), a page
 * at a time while the queue has room (src/deliver/landing-audit.ts), so a visitor waiting up
 * to 24 hours for its read-back costs its key in Redis, not a job of about 1 KB.
 */
export interface LandingRecheckJob {
  /** Visitor keys still to fan out. */
  recheck: string[];
  /** How many were fanned out before (numbers the checks' job ids). */
  offset?: number;
  sentAt: number;
  route: 'bulk';
  batchId?: string;
}

/** What the `landing-audit` queue carries. */
export type LandingQueueJob = LandingAuditJob | LandingRecheckJob;

/** Whether a `landing-audit` job is a {@link LandingRecheckJob}. */
export function isRecheck(data: LandingQueueJob): data is LandingRecheckJob {
  return 'recheck' in data;
}

/** Pipeline stages, as named in dead letters. */
export type Stage = 'map' | 'deliver-single' | 'deliver-bulk' | 'bulk-status';

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

/** Job data as zod checks it when a worker reads it back (a job written by another version, or edited by hand). */
export const JOB_SCHEMAS = {
  ingest: z
    .object({
      source: z.string(),
      receivedAt: z.number(),
      events: z.array(z.unknown()).optional(),
      rows: z.array(z.unknown()).optional(),
      checkedEnvelope: z.number().optional(),
    })
    .refine((data) => data.events !== undefined || data.rows !== undefined, {
      message: 'an ingest job needs its events (`events` or `rows`)',
      path: ['events'],
    }),
  deliver: z.object({
    claimId: z.string().min(1),
    visitors: z.array(z.string()),
    submitted: z.array(z.lazy(() => BULK_BATCH)).optional(),
    answerLost: z.array(z.string()).optional(),
    answerLostAt: z.number().optional(),
  }),
  bulkStatus: z.object({
    claimId: z.string().min(1),
    batches: z.array(z.lazy(() => BULK_BATCH)),
    answerLost: z.array(z.string()).optional(),
    answerLostAt: z.number().optional(),
  }),
  landingAudit: z.union([
    z.object({
      vk: z.string().min(3),
      sentAt: z.number(),
      route: z.enum(['single', 'bulk']),
      batchId: z.string().optional(),
      attributes: z.record(z.string(), z.string()),
      afterLostAnswer: z.boolean().optional(),
    }),
    z.object({
      recheck: z.array(z.string()),
      offset: z.number().optional(),
      sentAt: z.number(),
      route: z.literal('bulk'),
      batchId: z.string().optional(),
    }),
  ]),
} as const;

const BULK_BATCH = z.object({
  statusUrl: z.string(),
  visitors: z.array(z.string()),
  submittedAt: z.number(),
  polls: z.number(),
  firstPollMs: z.number().optional(),
  resubmits: z.number(),
  rowAttempt: z.number().optional(),
  retryAt: z.number().optional(),
  warned: z.string().optional(),
  answeredAt: z.number().optional(),
});

/**
 * A job whose data does not match its queue's schema: no retry can process it, so BullMQ
 * fails it at once (UnrecoverableError) and it stays visible in the failed set.
 */
export class JobDataError extends UnrecoverableError {
  readonly code = 'JOB_DATA_INVALID';
  constructor(queue: string, jobId: string | undefined, problems: string) {
    super(`job ${jobId ?? '(no id)'} of queue ${queue} has invalid data: ${problems}`);
    this.name = 'JobDataError';
  }
}

/**
 * The data of a job as its schema allows: the worker's first step. Extra fields a newer
 * version wrote are kept (they are passed on untouched); a missing or mistyped field is a
 * {@link JobDataError} naming the field, instead of an `undefined` deep in a delivery.
 */
export function readJobData<K extends keyof typeof JOB_SCHEMAS, T>(
  kind: K,
  job: { id?: string | undefined; queueName: string; data: T },
): T {
  const parsed = JOB_SCHEMAS[kind].safeParse(job.data);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new JobDataError(job.queueName, job.id, problems);
  }
  return job.data;
}

/** Compile-time check that each schema describes exactly its job type. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const SCHEMAS_MATCH_TYPES: [
  Same<z.infer<typeof JOB_SCHEMAS.ingest>, IngestJob>,
  Same<z.infer<typeof JOB_SCHEMAS.deliver>, DeliverJob>,
  Same<z.infer<typeof JOB_SCHEMAS.bulkStatus>, BulkStatusJob>,
  Same<z.infer<typeof JOB_SCHEMAS.landingAudit>, LandingQueueJob>,
] = [true, true, true, true];
void SCHEMAS_MATCH_TYPES;

/** Attempts of an ingest job (the merge into Redis): 20 × up to ~8 min covers a Redis failover or restart. */
export const INGEST_ATTEMPTS = 20;
/** First retry delay of an ingest job; BullMQ doubles it each attempt. */
export const INGEST_BACKOFF_MS = 500;
/**
 * Failed runs of one bulk-status job before BullMQ fails it. A poll of an incomplete batch is
 * not a failure (the job re-schedules itself); this counts unreadable answers (5xx, timeouts,
 * 404 while Target catches up), each retried after the `target` backoff, so it outlasts
 * BULK_STATUS_GIVE_UP_MS (25 h by default) at the longest poll delay.
 */
export const STATUS_POLL_ATTEMPTS = 1000;
/**
 * Failed runs of one landing-audit job (a Fetch Profile call that timed out or got a 5xx)
 * before BullMQ fails it, each after the `target` backoff. An audit that fails for good
 * loses nothing: the delivery was accepted, only its check is missing.
 */
export const LANDING_AUDIT_ATTEMPTS = 10;
/** How long a failed delivery or status job stays visible in the failed set (bull-board), in seconds. */
export const FAILED_JOB_RETENTION_S = 7 * 24 * 3600;
/** Random share of every retry delay of delivery jobs, so retries of many jobs spread out. */
export const RETRY_JITTER = 0.5;

/**
 * Completed jobs stay visible for a while (bull-board, `ti_queue_jobs{state="completed"}`),
 * bounded by time and by count per queue, whichever comes first: BullMQ drops the oldest
 * as each job completes. A kept job keeps no events or visitor keys (its worker clears them,
 * src/jobs/completed-data.ts), so each costs 1-2 KB of Redis whatever it carried, and all
 * of them together at most the sum of the counts below (3,200 jobs, about 6 MB): the bound
 * docs/operations.md states and test/integration/ops/completed-jobs.test.ts measures.
 * KEEP_COMPLETED_JOBS=false (and the SDK's `keepCompletedJobs: false`) keeps none.
 */
/** How long a completed delivery or status job stays visible, in seconds (1 hour). */
export const COMPLETED_JOB_RETENTION_S = 3600;
/** Most completed jobs one delivery or status queue keeps (its newest). */
export const COMPLETED_JOB_MAX_COUNT = 1000;
/**
 * How long a completed ingest job stays visible, in seconds (10 minutes). Intake adds a job
 * per request or SDK batch, many a second from a fleet of tills: the recent ones show what
 * is arriving, older ones say little the metrics do not.
 */
export const COMPLETED_INGEST_RETENTION_S = 600;
/** Most completed ingest jobs kept (cleared of their events, src/jobs/completed-data.ts). */
export const COMPLETED_INGEST_MAX_COUNT = 100;
/**
 * Most completed flush-queue jobs kept: the scheduler ticks every FLUSH_INTERVAL_MS (200 ms
 * by default), so 100 is the last 20 seconds or so; a tick carries no data.
 */
export const COMPLETED_FLUSH_MAX_COUNT = 100;

/**
 * Retry policy per queue. Ingest and delivery jobs keep their data until done; completed
 * jobs stay for a bounded time and count (above), so Redis holds the backlog and a little
 * recent history, not all of it.
 */
export const JOB_OPTIONS: Record<
  'ingest' | 'flush' | 'deliver' | 'bulkStatus' | 'landingAudit' | 'deadLetter',
  DefaultJobOptions
> = {
  ingest: {
    attempts: INGEST_ATTEMPTS,
    backoff: { type: 'exponential', delay: INGEST_BACKOFF_MS, jitter: RETRY_JITTER },
    removeOnComplete: { age: COMPLETED_INGEST_RETENTION_S, count: COMPLETED_INGEST_MAX_COUNT },
    removeOnFail: false,
  },
  /** Scheduler ticks: the last few stay visible, and a few failed ones. */
  flush: { removeOnComplete: { age: COMPLETED_JOB_RETENTION_S, count: COMPLETED_FLUSH_MAX_COUNT }, removeOnFail: 100 },
  /** Attempts come from the retry policy (DELIVERY_MAX_ATTEMPTS); `target` honours Retry-After. */
  deliver: {
    backoff: { type: 'target' },
    removeOnComplete: { age: COMPLETED_JOB_RETENTION_S, count: COMPLETED_JOB_MAX_COUNT },
    removeOnFail: { age: FAILED_JOB_RETENTION_S },
  },
  bulkStatus: {
    attempts: STATUS_POLL_ATTEMPTS,
    backoff: { type: 'target' },
    removeOnComplete: { age: COMPLETED_JOB_RETENTION_S, count: COMPLETED_JOB_MAX_COUNT },
    removeOnFail: { age: FAILED_JOB_RETENTION_S },
  },
  /** A check after the fact: its findings are in the metrics and the visitor's delivery log. */
  landingAudit: {
    attempts: LANDING_AUDIT_ATTEMPTS,
    backoff: { type: 'target' },
    removeOnComplete: true,
    removeOnFail: { age: FAILED_JOB_RETENTION_S },
  },
  /** Never processed (no worker): entries leave by replay, purge or the trim. */
  deadLetter: {
    removeOnComplete: false,
    removeOnFail: false,
  },
};

/**
 * Worker settings per queue. `map` and `deliverSingle` run WORKER_CONCURRENCY jobs at once
 * (config); the others are fixed here because their work is paced elsewhere.
 */
export const WORKERS = {
  /**
   * A job whose process died returns within about 2 × WORKER_LOCK_MS. Every job is safe to
   * run again (the merge knows its batches, a delivery re-reads its claim), while one failed
   * for stalling would strand an ingest batch: so allow many stalls, not BullMQ's one.
   */
  maxStalledCount: 50,
  /** One flush tick at a time per process: ticks claim atomically, a second one only adds Redis load. */
  flushConcurrency: 1,
  /** Bulk files posted at once per process: the bulk budget (50 calls a minute), not the CPU, limits them. */
  deliverBulkConcurrency: 2,
  /** Status polls at once per process: each is one cheap GET, paced by the budget too. */
  bulkStatusConcurrency: 4,
  /**
   * Landing audits (Fetch Profile calls) at once per process. Fetch calls spend no budget of
   * Target's, so only this bounds them: a sampled share of deliveries needs far fewer.
   */
  landingAuditConcurrency: 4,
  /** Single Profile Update calls one deliver-single job makes at once (a pool, see src/deliver/deliver-single.ts). */
  singleParallelCalls: 16,
  /** How often the flush queue runs the dead-letter trim (DEAD_LETTER_MAX_COUNT / _AGE_MS). */
  trimDeadLettersEveryMs: 60_000,
} as const;
