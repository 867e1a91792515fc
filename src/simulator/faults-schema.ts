import { z } from 'zod';
import type { SimulatorContext } from './context.js';
import { FAULT_ENDPOINTS, type FaultEndpoint, type FaultInjector } from './faults.js';

/** Longest batch processing time that can be set: 7 days (Adobe: up to 24 hours). */
const MAX_PROCESSING_MS = 7 * 24 * 3600_000;
const Status = z.number().int().min(400).max(599);
const RetryAfterSeconds = z.number().int().min(0).max(3600);
/** An absolute time: epoch milliseconds or an ISO 8601 date. */
const Instant = z.union([
  z.number().int().min(0),
  z.string().refine((text) => !Number.isNaN(Date.parse(text)), 'expected an ISO 8601 date'),
]);

/** A steady error rate: `status`, or one of `statuses` picked at random per failure. */
const ErrorRateSchema = z
  .object({
    probability: z.number().min(0).max(1),
    status: Status.default(500),
    statuses: z.array(Status).min(1).max(20).optional(),
  })
  .strict();

/**
 * A timed outage. Start: `start` (absolute) or `startInMs` (from when it is set), default
 * now. End: `end` (absolute) or `durationMs`; one of the two is required.
 */
const OutageWindowSchema = z
  .object({
    status: Status.default(503),
    start: Instant.optional(),
    startInMs: z
      .number()
      .int()
      .min(0)
      .max(7 * 24 * 3600_000)
      .optional(),
    end: Instant.optional(),
    durationMs: z
      .number()
      .int()
      .min(1)
      .max(7 * 24 * 3600_000)
      .optional(),
    retryAfterSeconds: RetryAfterSeconds.optional(),
  })
  .strict()
  .refine((w) => w.start === undefined || w.startInMs === undefined, 'give start or startInMs, not both')
  .refine((w) => (w.end === undefined) !== (w.durationMs === undefined), 'give exactly one of end or durationMs');

/** Faults aimed at one endpoint; latency and error rate replace the global ones there. */
const EndpointFaultsSchema = z
  .object({
    /** Answer every call of this endpoint with this status until cleared (`null` clears its outages). */
    outage: Status.nullable().optional(),
    /** Timed outages of this endpoint. */
    outageWindows: z.array(OutageWindowSchema).max(100).optional(),
    /** The next `count` calls of this endpoint answer `status`. */
    failNext: z
      .object({ count: z.number().int().min(1).max(100_000), status: Status })
      .strict()
      .optional(),
    /** Each call of this endpoint fails with this probability. */
    errorRate: ErrorRateSchema.optional(),
    /** Added latency per call of this endpoint, in ms. */
    latencyMs: z.number().int().min(0).max(120_000).optional(),
    /** Retry-After (seconds) sent with this endpoint's injected failures. */
    retryAfterSeconds: RetryAfterSeconds.optional(),
  })
  .strict();
export type EndpointFaults = z.infer<typeof EndpointFaultsSchema>;

/**
 * The JSON of `POST /_simulator/faults`, the CLI's `--faults` and SIMULATOR_FAULTS.
 *
 * The top-level availability fields (outage, windows, failNext, errorRate, latency) are
 * global: they apply to the single, bulk and batch status endpoints (not fetch, not the
 * IMS/Admin API). `endpoints.<single|bulk|status|fetch|admin>` aims them at one endpoint. The other fields are
 * about data and the account (visitors, batches, credentials, the shared limit).
 */
export const FaultsSchema = z
  .object({
    /** Answer every profile call with this status until cleared (`null` restores everything). */
    outage: Status.nullable().optional(),
    /** Timed outages of every profile call. */
    outageWindows: z.array(OutageWindowSchema).max(100).optional(),
    /** The next `count` profile calls answer `status`. */
    failNext: z.object({ count: z.number().int().min(1).max(100_000), status: Status }).optional(),
    /** Each profile call fails with `status` (or one of `statuses`) with this probability. */
    errorRate: ErrorRateSchema.optional(),
    /** The next `n` connections are dropped without an answer. */
    dropConnections: z.number().int().min(1).max(100_000).optional(),
    /** The next `n` accepted batches get stuck. */
    stickNextBatches: z.number().int().min(1).max(1000).optional(),
    /** Added latency per profile call, in ms. */
    latencyMs: z.number().int().min(0).max(120_000).optional(),
    /**
     * The next `count` bulk batches Target takes are answered only after `answerAfterMs`
     * (a client that gave up has lost the answer of a batch that is processed anyway), each
     * processed in `batchProcessingMs` when given.
     */
    answerBatchesLate: z
      .object({
        count: z.number().int().min(1).max(1000),
        answerAfterMs: z.number().int().min(0).max(MAX_PROCESSING_MS),
        batchProcessingMs: z.number().int().min(0).max(MAX_PROCESSING_MS).optional(),
      })
      .strict()
      .optional(),
    /** Single updates for these visitor ids are refused with 400; their bulk rows fail. */
    rejectVisitors: z.array(z.string().min(1).max(256)).max(10_000).optional(),
    /** Bulk rows for these visitor ids fail without being listed in the batch status details. */
    failRowsUnlisted: z.array(z.string().min(1).max(256)).max(10_000).optional(),
    /**
     * The next bulk row for each of these visitor ids is accepted, counted successful and
     * never stored (a row that does not land, as Adobe says up to 0.1% may not); an id
     * listed twice loses two rows.
     */
    loseBulkRows: z.array(z.string().min(1).max(256)).max(10_000).optional(),
    /** Retry-After (seconds) sent with injected global failures. */
    retryAfterSeconds: RetryAfterSeconds.optional(),
    /**
     * Batches accepted from now on take `batchProcessingMs` (+ random × `batchProcessingJitterMs`)
     * by the simulator's clock; `null` returns to the start options.
     */
    slowBatches: z
      .object({
        batchProcessingMs: z.number().int().min(0).max(MAX_PROCESSING_MS),
        batchProcessingJitterMs: z.number().int().min(0).max(MAX_PROCESSING_MS).optional(),
      })
      .strict()
      .nullable()
      .optional(),
    /**
     * Other users of the account spend the shared 50-a-minute limit: `callsPerMinute` calls
     * per window, evenly spread, for `durationMs` (default: until reset); `null` stops them.
     */
    otherUsers: z
      .object({
        callsPerMinute: z.number().int().min(0).max(100_000),
        durationMs: z.number().int().min(1).max(MAX_PROCESSING_MS).optional(),
      })
      .strict()
      .nullable()
      .optional(),
    /** The next `count` profile update calls fail their credentials check with `status`. */
    authFailures: z
      .object({
        status: z.union([z.literal(401), z.literal(403)]),
        count: z.number().int().min(1).max(100_000),
      })
      .strict()
      .optional(),
    /** Faults per endpoint. */
    endpoints: z
      .object({
        single: EndpointFaultsSchema.optional(),
        bulk: EndpointFaultsSchema.optional(),
        status: EndpointFaultsSchema.optional(),
        fetch: EndpointFaultsSchema.optional(),
        admin: EndpointFaultsSchema.optional(),
      })
      .strict()
      .optional(),
  })
  .strict();
export type Faults = z.infer<typeof FaultsSchema>;

/** Reads the `--faults` / SIMULATOR_FAULTS JSON; throws an Error listing every problem. */
export function parseFaultsJson(text: string): Faults {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error('expected JSON, e.g. {"errorRate":{"probability":0.05,"status":503}}');
  }
  const parsed = FaultsSchema.safeParse(json);
  if (!parsed.success) throw new Error(issueList(parsed.error.issues).join('; '));
  return parsed.data;
}

function issueList(issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>): string[] {
  return issues.map((i) => `${i.path.map(String).join('.') || 'faults'}: ${i.message}`);
}

function toEpochMs(instant: number | string): number {
  return typeof instant === 'number' ? instant : Date.parse(instant);
}

type Scoped = Omit<EndpointFaults, 'outage'> & { outage?: number | null };

function applyScoped(faults: FaultInjector, scoped: Scoped, endpoint: FaultEndpoint | undefined, now: number): void {
  const retry = scoped.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: scoped.retryAfterSeconds };
  const opts = endpoint === undefined ? retry : { ...retry, endpoint };
  if (scoped.outage === null) faults.clearOutages(endpoint);
  else if (scoped.outage !== undefined) faults.outage(scoped.outage, opts);
  for (const w of scoped.outageWindows ?? []) {
    const from = w.start !== undefined ? toEpochMs(w.start) : now + (w.startInMs ?? 0);
    faults.outageWindow({
      ...opts,
      ...(w.retryAfterSeconds !== undefined ? { retryAfterSeconds: w.retryAfterSeconds } : {}),
      status: w.status,
      from,
      ...(w.end !== undefined ? { until: toEpochMs(w.end) } : { durationMs: w.durationMs ?? 0 }),
    });
  }
  if (scoped.failNext !== undefined) faults.failNext(scoped.failNext.count, scoped.failNext.status, opts);
  if (scoped.errorRate !== undefined)
    faults.errorRate(scoped.errorRate.probability, scoped.errorRate.statuses ?? scoped.errorRate.status, opts);
  if (scoped.latencyMs !== undefined) faults.setLatency(scoped.latencyMs, endpoint);
}

/**
 * Applies a fault description (also used for the CLI's `--faults` JSON). Relative times
 * (`startInMs`, `durationMs`) count from now. Throws a RangeError for a window that ends
 * before it starts.
 */
export function applyFaults(ctx: Pick<SimulatorContext, 'faults'>, faults: Faults, now = Date.now()): void {
  if (faults.outage === null) ctx.faults.restore();
  applyScoped(ctx.faults, { ...faults, outage: faults.outage === null ? undefined : faults.outage }, undefined, now);
  if (faults.dropConnections !== undefined) ctx.faults.dropConnections(faults.dropConnections);
  if (faults.stickNextBatches !== undefined) ctx.faults.stickNextBatches(faults.stickNextBatches);
  if (faults.answerBatchesLate !== undefined) {
    const { count, answerAfterMs, batchProcessingMs } = faults.answerBatchesLate;
    ctx.faults.answerBatchesLate(count, {
      answerAfterMs,
      ...(batchProcessingMs !== undefined ? { processingMs: batchProcessingMs } : {}),
    });
  }
  for (const id of faults.rejectVisitors ?? []) ctx.faults.rejectVisitor(id);
  for (const id of faults.failRowsUnlisted ?? []) ctx.faults.failRowsUnlisted(id);
  for (const id of faults.loseBulkRows ?? []) ctx.faults.loseBulkRow(id);
  if (faults.authFailures !== undefined) ctx.faults.authFailures(faults.authFailures.status, faults.authFailures.count);
  if (faults.otherUsers === null) ctx.faults.otherUsers(undefined);
  else if (faults.otherUsers !== undefined) ctx.faults.otherUsers(faults.otherUsers);
  if (faults.slowBatches === null) ctx.faults.slowBatches(undefined);
  else if (faults.slowBatches !== undefined) {
    ctx.faults.slowBatches({
      processingMs: faults.slowBatches.batchProcessingMs,
      jitterMs: faults.slowBatches.batchProcessingJitterMs ?? 0,
    });
  }
  for (const endpoint of FAULT_ENDPOINTS) {
    const scoped = faults.endpoints?.[endpoint];
    if (scoped !== undefined) applyScoped(ctx.faults, scoped, endpoint, now);
  }
}
