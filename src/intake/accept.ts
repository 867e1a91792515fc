import type { JobsOptions, Queue } from 'bullmq';
import type { IntakeMarks } from '../coalesce/dedupe.js';
import {
  ENVELOPE_RULES,
  checkEvent,
  visitorKey,
  visitorRefOf,
  type CompiledMapping,
  type Visitor,
} from '../events/index.js';
import { intakeJobId, type IngestJob } from '../jobs/catalog.js';
import { ingestJobName } from '../jobs/names.js';
import { toIngestRow } from '../jobs/ingest-rows.js';

/** What intake tells a producer about one event of its batch. */
export type EventResult =
  | { index: number; id: string; status: 'accepted' | 'duplicate' }
  | { index: number; id?: string; status: 'rejected'; errors: string[] };

/** What intake tells a producer about a batch: counts, and each rejected event with its reasons. */
export interface AcceptCounts {
  accepted: number;
  duplicates: number;
  rejected: Array<{ index: number; errors: string[] }>;
}

/** {@link AcceptCounts} and one result per event, in order (the SDK's answer). */
export interface AcceptSummary extends AcceptCounts {
  results: EventResult[];
}

export interface IntakeDeps {
  ingestQueue: Queue<IngestJob>;
  marks: IntakeMarks;
  mapping: CompiledMapping;
  maxValueLength: number;
  /** Most events one BullMQ job carries; larger batches become several jobs. */
  maxEventsPerJob?: number;
}

const DEFAULT_EVENTS_PER_JOB = 1000;

/** Per event of a batch, in {@link Taken}.status; 0 means accepted. */
const DUPLICATE = 1;
const REJECTED = 2;

interface Taken extends AcceptCounts {
  /** Per input: 0 (accepted), DUPLICATE or REJECTED. */
  status: Uint8Array;
}

/**
 * Takes in one producer batch (HTTP intake, file import): validates every event (rejecting
 * each bad one alone with its reasons), reports ids already taken in as duplicates, stores
 * the rest as BullMQ jobs of many events each, and resolves only once Redis holds them (P1).
 */
export async function acceptBatch(
  deps: IntakeDeps,
  source: string,
  inputs: readonly unknown[],
  now = Date.now(),
): Promise<AcceptCounts> {
  const { accepted, duplicates, rejected } = await take(deps, source, inputs, now);
  return { accepted, duplicates, rejected };
}

/** {@link acceptBatch} with one result per event (the producer SDK). */
export async function acceptEvents(
  deps: IntakeDeps,
  source: string,
  inputs: readonly unknown[],
  now = Date.now(),
): Promise<AcceptSummary> {
  const taken = await take(deps, source, inputs, now);
  const errorsOf = new Map(taken.rejected.map((r) => [r.index, r.errors]));
  const results = inputs.map((raw, index): EventResult => {
    const errors = errorsOf.get(index);
    if (errors !== undefined) return { index, status: 'rejected', errors, ...idOf(raw) };
    const id = (raw as { id: string }).id;
    return { index, id, status: taken.status[index] === DUPLICATE ? 'duplicate' : 'accepted' };
  });
  return { accepted: taken.accepted, duplicates: taken.duplicates, rejected: taken.rejected, results };
}

async function take(deps: IntakeDeps, source: string, inputs: readonly unknown[], now: number): Promise<Taken> {
  const status = new Uint8Array(inputs.length);
  const rejected: Taken['rejected'] = [];
  // Valid events whose id is the first of its kind in the batch: their ids and input indexes.
  const ids: string[] = [];
  const indexes: number[] = [];
  const idsInBatch = new Set<string>();
  const options = { now, maxValueLength: deps.maxValueLength };
  for (let index = 0; index < inputs.length; index += 1) {
    const raw = inputs[index];
    const errors = checkEvent(raw, deps.mapping, options);
    if (errors !== undefined) {
      status[index] = REJECTED;
      rejected.push({ index, errors });
      continue;
    }
    const id = (raw as { id: string }).id;
    if (idsInBatch.has(id)) {
      status[index] = DUPLICATE;
      continue;
    }
    idsInBatch.add(id);
    ids.push(id);
    indexes.push(index);
  }

  const perJob = deps.maxEventsPerJob ?? DEFAULT_EVENTS_PER_JOB;
  const seen =
    deps.marks.shardCount === 1
      ? await storeClaimed(deps, source, inputs, ids, indexes, perJob, now)
      : await storeThenMark(deps, source, inputs, ids, indexes, perJob, now);
  let accepted = 0;
  for (let k = 0; k < indexes.length; k += 1) {
    if (seen[k] === true) status[indexes[k] ?? 0] = DUPLICATE;
    else accepted += 1;
  }
  return { accepted, duplicates: inputs.length - accepted - rejected.length, rejected, status };
}

/**
 * One shard: one dedupe call marks the fresh ids with the numbers of the jobs that will carry
 * them (such a marker counts only once its job exists, src/coalesce/lua/marks-claim.lua), then
 * the jobs are stored under those numbers. Returns which ids were seen.
 */
async function storeClaimed(
  deps: IntakeDeps,
  source: string,
  inputs: readonly unknown[],
  ids: readonly string[],
  indexes: readonly number[],
  perJob: number,
  now: number,
): Promise<boolean[]> {
  const claim = await deps.marks.claim(source, ids, perJob, now);
  const fresh: unknown[] = [];
  indexes.forEach((index, k) => {
    if (claim.seen[k] !== true) fresh.push(inputs[index]);
  });
  await storeJobs(deps.ingestQueue, source, now, fresh, perJob, (k) => intakeJobId(claim.firstJob + k));
  return claim.seen;
}

/**
 * Several shards (the queue lives in another slot than the markers): look the ids up, store
 * the jobs, then mark the ids taken in. Marked after the jobs are stored: a crash in between
 * makes a resend count as new at intake, and the merge's own dedupe still applies it once.
 */
async function storeThenMark(
  deps: IntakeDeps,
  source: string,
  inputs: readonly unknown[],
  ids: readonly string[],
  indexes: readonly number[],
  perJob: number,
  now: number,
): Promise<boolean[]> {
  const refs = ids.map((id, k) => ({
    id,
    vk: visitorKey(visitorRefOf((inputs[indexes[k] ?? 0] as { visitor: Visitor }).visitor)),
  }));
  const seen = await deps.marks.alreadySeen(source, refs, now);
  const fresh = indexes.filter((_, k) => seen[k] !== true).map((index) => inputs[index]);
  await storeJobs(deps.ingestQueue, source, now, fresh, perJob);
  await deps.marks.markTaken(
    source,
    refs.filter((_, k) => seen[k] !== true),
    now,
  );
  return seen;
}

/** Stores `events` as jobs of at most `perJob` events; a single job by `Queue.add`, which costs half of `addBulk`. */
async function storeJobs(
  queue: Queue<IngestJob>,
  source: string,
  receivedAt: number,
  events: readonly unknown[],
  perJob: number,
  jobIdOf?: (k: number) => string,
): Promise<void> {
  const jobs: Array<{ name: string; data: IngestJob; opts?: JobsOptions }> = [];
  for (let start = 0; start < events.length; start += perJob) {
    const rows = events.slice(start, start + perJob).map(toIngestRow);
    const data: IngestJob = { source, receivedAt, rows, checkedEnvelope: ENVELOPE_RULES };
    const jobId = jobIdOf?.(jobs.length);
    jobs.push({
      name: ingestJobName(rows.length, source),
      data,
      ...(jobId === undefined ? {} : { opts: { jobId } }),
    });
  }
  const [only] = jobs;
  if (jobs.length === 1 && only !== undefined) await queue.add(only.name, only.data, only.opts);
  else if (jobs.length > 1) await queue.addBulk(jobs);
}

function idOf(raw: unknown): { id?: string } {
  if (typeof raw === 'object' && raw !== null && 'id' in raw && typeof raw.id === 'string' && raw.id.length <= 128)
    return { id: raw.id };
  return {};
}
