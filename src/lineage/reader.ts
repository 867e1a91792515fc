import type { Job, Queue } from 'bullmq';
import type { VisitorStore } from '../coalesce/store.js';
import { onlyVisitor } from '../dlq/visitor-filter.js';
import { markerBucket, markerField, markerGeneration } from '../coalesce/markers.js';
import { readCredentialsHold, credentialsHoldKey } from '../deliver/credentials-hold.js';
import type { DeadLetterAdmin, DeadLetterView } from '../dlq/admin.js';
import { parseVisitorKey, visitorKey, type VisitorRef } from '../events/index.js';
import type { PipelineQueues } from '../jobs/queues.js';
import type { RedisClient } from '../redis/connection.js';
import { shardOf } from '../redis/shards.js';
import { batchIdOf } from '../target/status-link.js';
import {
  eventLineage,
  knowsVisitor,
  parseMarker,
  visitorLineage,
  type ClaimState,
  type DeadLetterSearch,
  type EventLineage,
  type VisitorLineage,
  type VisitorRecords,
} from './lineage.js';

/** What the lineage reads: the store, its Redis, the queues that hold claims, the dead letters. */
export interface LineageDeps {
  redis: RedisClient;
  store: VisitorStore;
  prefix: string;
  queues: Pick<PipelineQueues, 'deliverSingle' | 'deliverBulk' | 'bulkStatus'>;
  deadLetters: Pick<DeadLetterAdmin, 'list'>;
  /** The dedupe window (markers live for one to two of them). */
  dedupeWindowMs: number;
}

/** Dead letters of one visitor shown at most (newest first). */
const DEAD_LETTERS_SHOWN = 20;

/** A visitor's hashes, due time and delivery log: one pipeline. */
export async function readVisitorRecords(deps: LineageDeps, vk: string, now = Date.now()): Promise<VisitorRecords> {
  const keys = deps.store.keysOf(vk);
  const [pending, inFlight, delivered, due] = await Promise.all([
    deps.redis.hgetall(keys.pending(vk)),
    deps.redis.hgetall(keys.inFlight(vk)),
    deps.redis.hgetall(keys.delivered(vk)),
    deps.redis.zscore(keys.due, vk),
  ]);
  const deliveries = await deps.store.deliveryLog.read(vk, shardOf(vk, deps.store.shards.length), now);
  return { pending, inFlight, delivered, dueAt: due === null ? null : Number(due), deliveries };
}

async function jobOf<T>(queue: Queue<T>, id: string): Promise<Job<T> | undefined> {
  return (await queue.getJob(id)) ?? undefined;
}

/**
 * What holds a visitor's in-flight values: its claim's job (single or bulk delivery, or the
 * bulk status job that follows a submitted batch), Target's batch id, and why it waits.
 */
export async function readClaim(deps: LineageDeps, vk: string, claim: string | undefined): Promise<ClaimState | null> {
  if (claim === undefined) return null;
  const state: ClaimState = { claim, mode: 'unknown', batchId: null, since: null, held: false, heldReason: null };
  const status = await jobOf(deps.queues.bulkStatus, claim);
  const batch = status?.data.batches.find((b) => b.visitors.includes(vk));
  if (batch !== undefined) {
    state.mode = 'bulk';
    state.since = new Date(batch.submittedAt).toISOString();
    if (batch.statusUrl === '') {
      state.held = true;
      state.heldReason = `rows Target listed as failed: submitted again at ${new Date(batch.retryAt ?? batch.submittedAt).toISOString()}`;
    } else {
      state.batchId = batchIdOf(batch.statusUrl);
      state.heldReason = `Target is processing the batch (${batch.polls} status polls so far)`;
    }
  } else {
    const single = await jobOf(deps.queues.deliverSingle, claim);
    const job = single ?? (await jobOf(deps.queues.deliverBulk, claim));
    if (job !== undefined) {
      state.mode = single !== undefined ? 'single' : 'bulk';
      state.since = new Date(job.timestamp).toISOString();
      if ((await job.getState()) === 'delayed') {
        state.held = true;
        state.heldReason =
          job.failedReason !== undefined && job.failedReason !== ''
            ? `retrying after: ${job.failedReason}`
            : 'waiting for the budget or a retry';
      }
    }
  }
  const hold = await readCredentialsHold(deps.redis, credentialsHoldKey(deps.prefix));
  if (hold !== undefined) {
    state.held = true;
    state.heldReason = `Target refuses our credentials (HTTP ${hold.status}) since ${new Date(hold.since).toISOString()}: every delivery is held, nothing is dropped`;
  }
  return state;
}

/** What the store and the dead letters say of a visitor. */
export interface VisitorLookup {
  /** Undefined when nothing is known of the visitor. */
  view: VisitorLineage<DeadLetterView> | undefined;
  /** Set when older dead letters were not searched (the scan's limit was reached first). */
  deadLettersSearched?: DeadLetterSearch;
}

/** The visitor view (undefined when nothing is known of it), and how far its dead letters were searched. */
export async function readVisitorLineage(deps: LineageDeps, ref: VisitorRef, now = Date.now()): Promise<VisitorLookup> {
  const vk = visitorKey(ref);
  const records = await readVisitorRecords(deps, vk, now);
  const page = await deps.deadLetters.list({ visitor: vk }, { limit: DEAD_LETTERS_SHOWN });
  // Only this visitor's part of each entry: an entry may hold hundreds of other visitors.
  const deadLetters = page.entries.map((e) => onlyVisitor(e, vk));
  // Stopped before the oldest entry with fewer than a page found: the scan's limit ended it.
  const searched =
    page.next !== undefined && deadLetters.length < DEAD_LETTERS_SHOWN
      ? { scanned: page.scanned, queued: page.queued, next: page.next }
      : undefined;
  const found = searched !== undefined ? { deadLettersSearched: searched } : {};
  if (!knowsVisitor(records, deadLetters.length)) return { view: undefined, ...found };
  const claim = await readClaim(deps, vk, records.inFlight._claim);
  return { view: visitorLineage(ref, records, claim, deadLetters, searched), ...found };
}

/** The marker of an event id, looked up in every shard, this generation and the previous one. */
async function readMarker(deps: LineageDeps, source: string, id: string, now: number): Promise<string | undefined> {
  const generation = markerGeneration(now, deps.dedupeWindowMs);
  const bucket = markerBucket(source, id);
  const field = markerField(source, id);
  for (const keys of deps.store.shards)
    for (const g of [generation, generation - 1]) {
      const value = await deps.redis.hget(keys.seen(g, bucket), field);
      if (value !== null) return value;
    }
  return undefined;
}

/** The event view, or undefined when the id is unknown for that source (or older than the dedupe window). */
export async function readEventLineage(
  deps: LineageDeps,
  source: string,
  id: string,
  now = Date.now(),
): Promise<EventLineage | undefined> {
  const raw = await readMarker(deps, source, id, now);
  const marker = raw === undefined ? undefined : parseMarker(raw);
  if (marker === undefined) return undefined;
  if (marker.state === 'queued' || marker.vk === null) return eventLineage(source, id, marker, undefined);
  const ref = parseVisitorKey(marker.vk);
  const forgotten =
    (await deps.store.suppressedAmong([marker.vk], now)).has(marker.vk) ||
    (await deps.store.erasedAmong([marker.vk], now)).has(marker.vk);
  const records = forgotten
    ? { pending: {}, inFlight: {}, delivered: {}, dueAt: null, deliveries: [] }
    : await readVisitorRecords(deps, marker.vk, now);
  return eventLineage(source, id, marker, { ref, records, forgotten });
}
