import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { resolveMapping, type CompiledMapping } from '../events/index.js';
import type { TargetEndpoint } from '../target/client.js';

/** Seconds from a few milliseconds to a few days: delivery lag spans coalescing windows and offline backfills. */
const LAG_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 86_400, 7 * 86_400];
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const SIZE_BUCKETS = [1, 5, 10, 25, 50, 100, 200, 500, 1000, 5000, 20_000, 100_000, 500_000];

/** What one intake request counted (intake's AcceptSummary has this shape): metrics only read it. */
export interface IntakeCounts {
  accepted: number;
  duplicates: number;
  rejected: ReadonlyArray<{ index: number; errors: readonly string[] }>;
}

/**
 * The process' Prometheus metrics (docs/operations.md says what each means and what to
 * alert on; test/unit/docs/docs-match-code.test.ts checks it lists them all). Counters and
 * histograms count what this process did; gauges read the shared state in Redis at scrape
 * time (src/ops/scrape.ts), so every process reports the same values there. Labels stay
 * bounded: source names (from config), queues, stages, error codes, modes and outcomes;
 * never visitor or event ids.
 */
export class Metrics {
  readonly registry = new Registry();

  // Intake (recorded by the HTTP intake route; the SDK and `target-ingest import` have no registry).
  readonly eventsReceived = this.counter('ti_events_received_total', 'Events received at intake', ['source']);
  readonly eventsAccepted = this.counter('ti_events_accepted_total', 'Events stored durably at intake', ['source']);
  readonly eventsDuplicate = this.counter('ti_events_duplicate_total', 'Events whose id the source had already sent', [
    'source',
  ]);
  readonly eventsRejected = this.counter(
    'ti_events_rejected_total',
    'Events rejected at intake, by field and problem',
    ['source', 'reason'],
  );
  readonly sourceLastEvent = this.gauge(
    'ti_source_last_event_seconds',
    'Unix time in seconds of the last event this process accepted from each source (HTTP intake only)',
    ['source'],
  );
  readonly backpressure = this.counter('ti_intake_backpressure_total', 'Intake requests refused to protect Redis', [
    'reason',
  ]);

  // Map workers (from MapSummary).
  readonly mapEvents = this.counter(
    'ti_map_events_total',
    'Events merged by the map workers, by outcome (applied, superseded, duplicate, late, replayed, suppressed, invalid)',
    ['source', 'outcome'],
  );
  readonly suppressedEvents = this.counter(
    'ti_events_suppressed_total',
    'Events dropped because their visitor was forgotten (target-ingest forget) and is still suppressed',
    ['source'],
  );
  readonly lateEvents = this.counter(
    'ti_events_late_dropped_total',
    'Events dropped because Target already holds newer values for all their attributes',
    ['source'],
  );
  readonly intakeToMerge = this.histogram(
    'ti_intake_to_merge_seconds',
    'From intake to the merge into the visitor store, per batch',
    [],
    LAG_BUCKETS,
  );

  // Jobs of every queue this process works on.
  readonly jobsCompleted = this.counter('ti_jobs_completed_total', 'Jobs finished successfully', ['queue']);
  readonly jobAttemptsFailed = this.counter('ti_job_attempts_failed_total', 'Job attempts that threw, by error code', [
    'queue',
    'code',
  ]);
  readonly jobRetries = this.counter('ti_job_retries_total', 'Failed job attempts that will be retried with backoff', [
    'queue',
  ]);
  readonly jobsFailed = this.counter(
    'ti_jobs_failed_total',
    'Jobs whose retries are spent (their content is dead-lettered)',
    ['queue'],
  );
  readonly jobDuration = this.histogram(
    'ti_job_duration_seconds',
    'Processing time of successful jobs',
    ['queue'],
    DURATION_BUCKETS,
  );

  // Flusher and delivery.
  readonly flushVisitors = this.histogram(
    'ti_flush_visitors',
    'Visitors claimed by one flush (flushes that found none are not observed)',
    [],
    SIZE_BUCKETS,
  );
  readonly flushReissued = this.counter(
    'ti_flush_reissued_visitors_total',
    'Visitors whose claim expired without a live delivery job and was reissued',
    [],
  );
  readonly deliveries = this.counter(
    'ti_deliveries_total',
    'Delivery jobs (one claim each) by mode and outcome (completed, retry, failed)',
    ['mode', 'outcome'],
  );
  readonly deliveredVisitors = this.counter('ti_delivered_visitors_total', 'Visitors whose values Target accepted', [
    'mode',
  ]);
  readonly reroutedVisitors = this.counter(
    'ti_rerouted_visitors_total',
    'Visitors moved from one delivery mode to another (single budget short)',
    ['mode'],
  );
  readonly targetCalls = this.counter(
    'ti_target_calls_total',
    'Calls to Target answered 2xx, per endpoint (single, bulk, status, fetch)',
    ['endpoint'],
  );
  readonly targetCallDuration = this.histogram(
    'ti_target_call_duration_seconds',
    'Duration of one call to Target, answered or failed, per endpoint (single, bulk, status, fetch)',
    ['endpoint'],
    DURATION_BUCKETS,
  );
  readonly eventToDelivered = this.histogram(
    'ti_event_to_delivered_seconds',
    'From the event time of the oldest value in a delivery to its acceptance by Target',
    ['mode'],
    LAG_BUCKETS,
  );
  readonly intakeToDelivered = this.histogram(
    'ti_intake_to_delivered_seconds',
    'From intake storing the earliest value of a delivery to its acceptance by Target (bulk: the file accepted for processing)',
    ['mode'],
    LAG_BUCKETS,
  );
  readonly bulkRows = this.counter(
    'ti_bulk_rows_total',
    'Rows of complete bulk batches as Target reported them (showDetails), counted as each batch completes',
    ['outcome'],
  );
  readonly bulkRowsFailedUnnamed = this.counter(
    'ti_bulk_rows_failed_unnamed_total',
    'Failed rows Target counted in a complete bulk batch without naming them: those visitors may not have landed (alert on any)',
    [],
  );
  readonly landingAudit = this.counter(
    'ti_landing_audit_total',
    'Attributes of deliveries read back from Target after LANDING_AUDIT_DELAY_MS, by result (match, missing, different) and check (sampled; lost_answer: every one after a call or file that may still land); missing ones are sent again',
    ['result', 'check'],
  );
  readonly bulkFileRows = this.histogram('ti_bulk_file_rows', 'Rows per bulk file sent to Target', [], SIZE_BUCKETS);
  readonly deadLetters = this.counter('ti_dead_letters_total', 'Dead letters written, by stage and error code', [
    'stage',
    'code',
  ]);

  // Shared state, read from Redis at scrape time.
  readonly queueJobs = this.gauge('ti_queue_jobs', 'Jobs per queue and state', ['queue', 'state']);
  readonly visitorsPending = this.gauge('ti_visitors_pending', 'Visitors waiting for their coalescing window', []);
  readonly visitorsInFlight = this.gauge(
    'ti_visitors_in_flight',
    'Visitors claimed by a delivery that has not finished',
    [],
  );
  readonly storeEvents = this.gauge(
    'ti_store_events',
    'Merge outcomes counted in Redis by all processes since the prefix was created',
    ['outcome'],
  );
  readonly deadLettersTrimmed = this.gauge(
    'ti_dead_letters_trimmed',
    'Dead letters removed past DEAD_LETTER_MAX_COUNT or DEAD_LETTER_MAX_AGE_MS, counted in Redis by all processes',
    [],
  );
  readonly redisUp = this.gauge('ti_redis_up', '1 when Redis answered the last scrape in time, else 0', []);
  readonly redisMemory = this.gauge('ti_redis_memory_bytes', 'Redis memory: used, and maxmemory (0 = no limit)', [
    'kind',
  ]);
  readonly budgetRemaining = this.gauge('ti_budget_remaining', 'Calls left in a rolling budget window (single: 24 h)', [
    'budget',
  ]);
  readonly budgetRecentCalls = this.gauge(
    'ti_budget_recent_calls',
    'Calls made in the recent window of a budget (bulk: the last minute)',
    ['budget'],
  );
  readonly budgetPaused = this.gauge(
    'ti_budget_paused_seconds',
    "Seconds every call of a budget stays paused after Target answered 503 past the account's shared limit (0: not paused)",
    ['budget'],
  );
  readonly targetAuthOk = this.gauge(
    'ti_target_auth_ok',
    '1 when Target accepts our credentials, 0 while delivery is held because it answered 401/403',
    [],
  );
  readonly targetAuthHeld = this.gauge(
    'ti_target_auth_held_seconds',
    'How long delivery has been held because Target refuses our credentials (0: not held)',
    [],
  );

  /** The `reason` label values intake may use (see {@link rejectionReasons}). */
  private readonly reasons: ReadonlySet<string>;

  /**
   * @param options.defaultMetrics Node process metrics (`ti_process_*`); default true.
   * @param options.mapping The mapping intake validates with: its data fields may be
   *   rejection reasons. Default: the built-in mapping (other fields count as `data`).
   */
  constructor(options: { defaultMetrics?: boolean; mapping?: CompiledMapping } = {}) {
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'ti_process_' });
    this.reasons = options.mapping === undefined ? DEFAULT_REASONS : rejectionReasons(options.mapping);
  }

  /**
   * Counts one intake batch. The reason label is the field path only (bounded), not the
   * message. A batch with accepted events also stamps the source's last-event time (the
   * "source silent" alert in ops/prometheus/target-ingest.rules.yml reads it).
   */
  recordIntake(source: string, summary: IntakeCounts, now: number = Date.now()): void {
    const total = summary.accepted + summary.duplicates + summary.rejected.length;
    this.eventsReceived.inc({ source }, total);
    if (summary.accepted > 0) {
      this.eventsAccepted.inc({ source }, summary.accepted);
      this.sourceLastEvent.set({ source }, now / 1000);
    }
    if (summary.duplicates > 0) this.eventsDuplicate.inc({ source }, summary.duplicates);
    for (const rejected of summary.rejected) {
      this.eventsRejected.inc({ source, reason: rejectionReason(rejected.errors[0] ?? '', this.reasons) });
    }
  }

  /**
   * Counts one HTTP call to Target, as the Target client reports it (its `onCall`): every
   * call is timed, calls answered 2xx are counted per endpoint. Endpoints are the client's
   * four (single, bulk, status, fetch), so the labels stay bounded.
   */
  recordTargetCall(endpoint: TargetEndpoint, durationMs: number, outcome: 'ok' | 'error'): void {
    this.targetCallDuration.observe({ endpoint }, durationMs / 1000);
    if (outcome === 'ok') this.targetCalls.inc({ endpoint });
  }

  /** Counts one request refused under backpressure (`backlog`, `redis_memory`, ...). */
  recordBackpressure(reason: string): void {
    this.backpressure.inc({ reason });
  }

  private counter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  private gauge<L extends string>(name: string, help: string, labelNames: readonly L[]): Gauge<L> {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }

  private histogram<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    buckets: number[],
  ): Histogram<L> {
    return new Histogram({ name, help, labelNames, buckets, registers: [this.registry] });
  }
}

/** Envelope paths a rejection can name (src/events/envelope.ts); none is producer text. */
const ENVELOPE_PATHS = [
  'id',
  'type',
  'occurredAt',
  'visitor',
  'visitor.mboxPC',
  'visitor.mbox3rdPartyId',
  'visitor.ecid',
  'data',
] as const;
/** `body`: a line that is not JSON; `event`: not an object, or anything unrecognised. */
const FIXED_REASONS = ['body', 'event', 'unknown_field'] as const;
const UNKNOWN_KEY = /^(unknown field|not accepted in the event body)/;
const QUOTED_UNKNOWN_KEY = /": (unknown field|not accepted in the event body)/;

/**
 * Every `reason` label value intake can produce with this mapping: the envelope paths,
 * `data.<field>` for each data field the mapping declares, and `body`, `event`,
 * `unknown_field`. Fixed at start, so a producer cannot add label values.
 */
export function rejectionReasons(mapping: CompiledMapping): ReadonlySet<string> {
  const reasons = new Set<string>([...ENVELOPE_PATHS, ...FIXED_REASONS]);
  for (const type of mapping.types.values()) for (const field of type.fields) reasons.add(field.path);
  return reasons;
}

const DEFAULT_REASONS = rejectionReasons(resolveMapping());

/**
 * The label for an intake rejection (`<path>: <problem>`): its path when that path is in
 * `allowed`, `unknown_field` for a key the envelope does not have (`"4111…": unknown field`),
 * `data` for a data field the mapping does not declare, else `event`. Nothing the producer
 * wrote passes through unless it is in `allowed`, so the label set stays bounded.
 */
export function rejectionReason(error: string, allowed: ReadonlySet<string> = DEFAULT_REASONS): string {
  const colon = error.indexOf(': ');
  if (colon <= 0) return 'event';
  const path = error.slice(0, colon);
  // First: a top-level key such as "data.amount" is unknown, not the data field amount.
  if (UNKNOWN_KEY.test(error.slice(colon + 2))) return 'unknown_field';
  if (allowed.has(path)) return path;
  // A quoted key may itself hold ": ", so the path above was cut short.
  if (QUOTED_UNKNOWN_KEY.test(error)) return 'unknown_field';
  if (path.startsWith('data.') || path.startsWith('data[')) return 'data';
  if (path.startsWith('visitor.')) return 'visitor';
  return 'event';
}

/** Error codes as label values: upper-case words only, so a stray message can never become a label. */
export function codeLabel(code: unknown): string {
  if (typeof code !== 'string' || !/^[A-Za-z0-9_.-]{1,48}$/.test(code)) return 'UNKNOWN';
  return code.toUpperCase();
}
