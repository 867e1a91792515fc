import type { Queue } from 'bullmq';
import type { VisitorStore } from '../coalesce/store.js';
import { CHUNK, type DeadLetterAdmin } from '../dlq/admin.js';
import type { AdminRole } from '../http/admin-auth.js';
import type { BulkStatusJob, Stage } from '../jobs/catalog.js';
import { readSharedState, type ScrapeSource } from '../ops/scrape.js';
import type { RedisClient } from '../redis/connection.js';
import { readFlow } from './flow-counter.js';
import type { BulkClaimReading, DeadLetterReading, OldestPendingReading, OverviewReads } from './overview.js';

/** Bulk claims listed one by one; the count covers them all. BULK_MAX_CLAIMS_IN_FLIGHT is 10 by default. */
export const BULK_CLAIMS_SHOWN = 20;

/** What the overview reads: the shared state a scrape reads, plus the console's own. */
export interface OverviewSource extends ScrapeSource {
  prefix: string;
  deadLetterAdmin: Pick<DeadLetterAdmin, 'list'>;
}

/**
 * Everything the overview shows, read from Redis: the shared gauges as a scrape reads them
 * (src/ops/scrape.ts), the flow counts, the oldest pending visitor, the bulk claims being
 * polled and the newest page of dead letters. Nothing here grows with the traffic: each
 * read is bounded (one due entry per shard, BULK_CLAIMS_SHOWN claims, CHUNK dead letters).
 */
export async function readOverview(source: OverviewSource, role: AdminRole, now = Date.now()): Promise<OverviewReads> {
  const [shared, flow, oldestPending, bulkClaims, deadLetters] = await Promise.all([
    readSharedState(source),
    readFlow(source.redis, source.prefix, now),
    readOldestPending(source.redis, source.store),
    readBulkClaims(source.redis, source.queues.bulkStatus),
    readDeadLetterHeads(source.redis, source.queues.deadLetter, source.deadLetterAdmin),
  ]);
  return {
    now,
    role,
    shared,
    flow,
    oldestPending,
    bulkClaims,
    deadLetters,
  };
}

const STAGES: ReadonlySet<string> = new Set<Stage>(['map', 'deliver-single', 'deliver-bulk', 'bulk-status']);
const isStage = (s: string | undefined): s is Stage => s !== undefined && STAGES.has(s);

/** `<stage> <code> ×n` (deadLetterJobName in src/jobs/names.ts). */
const DEAD_LETTER_NAME = /^(\S+) (\S+) ×([\d,]+)$/;

/**
 * The newest CHUNK dead letters as their job names say them (stage, code, items) and when
 * they were written: two fields of each job hash, not its data, which holds up to 500
 * visitors' values or raw events (reading whole entries cost ~50 MB of Redis output per
 * refresh of the page). Entries whose name says nothing (written before names) are read whole.
 */
export async function readDeadLetterHeads(
  redis: RedisClient,
  queue: Queue,
  admin: Pick<DeadLetterAdmin, 'list'>,
): Promise<DeadLetterReading[]> {
  const ids = await queue.getRanges(['waiting'], 0, CHUNK - 1, false);
  if (ids.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const id of ids) pipeline.hmget(queue.toKey(id), 'name', 'timestamp');
  const heads = ((await pipeline.exec()) ?? []).map(([, fields]) => fields as [string | null, string | null]);
  const out: DeadLetterReading[] = [];
  let unnamed = 0;
  for (const [name, timestamp] of heads) {
    const parsed = DEAD_LETTER_NAME.exec(name ?? '');
    const stage = parsed?.[1];
    if (parsed === null || !isStage(stage)) {
      unnamed += 1;
      continue;
    }
    out.push({
      stage,
      code: parsed[2] ?? '',
      items: Number((parsed[3] ?? '0').replaceAll(',', '')),
      lastAttemptAt: Number(timestamp ?? 0),
    });
  }
  if (unnamed === 0) return out;
  const page = await admin.list({}, { limit: CHUNK });
  return page.entries.map((entry) => ({
    stage: entry.stage,
    code: entry.error.code,
    items: (entry.events?.length ?? 0) + (entry.visitors?.length ?? 0),
    lastAttemptAt: entry.lastAttemptAt,
  }));
}

/**
 * The visitor first in any shard's due index (the lowest due time: pending longest, or held
 * longest behind a delivery), with the earliest intake time of its values.
 */
export async function readOldestPending(
  redis: RedisClient,
  store: Pick<VisitorStore, 'shards' | 'keysOf'>,
): Promise<OldestPendingReading | null> {
  const heads = await Promise.all(store.shards.map((keys) => redis.zrange(keys.due, '0', '0', 'WITHSCORES')));
  let oldest: { vk: string; dueAt: number } | undefined;
  for (const [vk, score] of heads) {
    if (vk === undefined || score === undefined) continue;
    const dueAt = Number(score);
    if (oldest === undefined || dueAt < oldest.dueAt) oldest = { vk, dueAt };
  }
  if (oldest === undefined) return null;
  const received = await redis.hget(store.keysOf(oldest.vk).pending(oldest.vk), '_in');
  return { ...oldest, receivedAt: received === null ? null : Number(received) };
}

/**
 * The bulk claims whose status jobs are polling Target. Only three fields of each job hash
 * are read (BullMQ's `timestamp`, `processedOn` and `ats`, runs started): its data lists
 * every visitor of the claim, up to FLUSH_BULK_BATCH_SIZE of them, far too much to read
 * at every refresh. A visitor's batch id is in its lineage.
 */
export async function readBulkClaims(redis: RedisClient, queue: Queue<BulkStatusJob>): Promise<BulkClaimReading[]> {
  const states = ['active', 'waiting', 'delayed'] as const;
  const ids = await Promise.all(states.map((state) => queue.getRanges([state], 0, BULK_CLAIMS_SHOWN - 1, true)));
  const listed = states
    .flatMap((state, i) => (ids[i] ?? []).map((claimId) => ({ state, claimId })))
    .slice(0, BULK_CLAIMS_SHOWN);
  const fields = await Promise.all(
    listed.map(({ claimId }) => redis.hmget(queue.toKey(claimId), 'timestamp', 'processedOn', 'ats')),
  );
  const number = (value: string | null | undefined) => (value === null || value === undefined ? null : Number(value));
  return listed.flatMap(({ state, claimId }, i) => {
    const [addedAt, lastRunAt, runs] = (fields[i] ?? []).map(number);
    // Gone between the two reads (its batches completed): not in flight any more.
    if (addedAt === null || addedAt === undefined) return [];
    return [{ claimId, state, addedAt, lastRunAt: lastRunAt ?? null, runs: runs ?? null }];
  });
}
