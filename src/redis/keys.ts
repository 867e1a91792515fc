import { shardTag } from './shards.js';

/**
 * Terminology
 * - prefix: names one pipeline; its queues and budgets live under `{prefix}` (the braces
 *   make it a Redis Cluster hash tag, so they share one slot); so does the visitor store
 *   when it has one shard.
 * - visitor key (vk): `pc:<mboxPC>` or `3p:<mbox3rdPartyId>`.
 * - shard: one of REDIS_SHARDS parts of the visitor store, with a hash tag of its own
 *   (`{prefix}` when there is one shard); a visitor's shard is a hash of its visitor key.
 * - pending: attributes merged but not yet claimed for delivery.
 * - in flight: attributes claimed by one delivery (a snapshot under a claim id).
 * - delivered stamps: per attribute, the `(occurredAt, id)` of the value Target last accepted.
 * - stamp: `<occurredAt ms, 15 digits>|<event id>`, so plain string order is event order
 *   (ties broken by the greater event id).
 */

/** The hash-tagged root every key and queue of one pipeline shares. */
export function hashTag(prefix: string): string {
  return `{${prefix}}`;
}

/**
 * Key names of one shard of the visitor store (src/redis/shards.ts); Lua scripts build
 * the same names from the same root. With one shard (the default) the root is `{prefix}`.
 */
export function storeKeys(prefix: string, shard = 0, shards = 1) {
  const root = hashTag(shardTag(prefix, shard, shards));
  return {
    root,
    pending: (vk: string) => `${root}:vp:${vk}`,
    inFlight: (vk: string) => `${root}:vf:${vk}`,
    delivered: (vk: string) => `${root}:vd:${vk}`,
    due: `${root}:due`,
    leases: `${root}:leases`,
    /** One of the hashes of event-id markers (src/coalesce/markers.ts): fields `<source>:<id>`. */
    seen: (generation: number, bucket: number) => `${root}:seen:${generation}:${bucket}`,
    /** Marks one merge call's part of an ingest job as merged (mergePartBatchId), so a job run again after a crash merges only what it had not. */
    merged: (batchId: string) => `${root}:merged:${batchId}`,
    stats: `${root}:stats`,
    /** Numbers the ingest jobs intake stores (src/coalesce/lua/marks-claim.lua). */
    intakeJobs: `${root}:intake-jobs`,
  };
}

const STAMP_DIGITS = 15;

/** Encodes an event's order position; comparing two stamps as strings compares events. */
export function stamp(occurredAtMs: number, eventId: string): string {
  return `${String(occurredAtMs).padStart(STAMP_DIGITS, '0')}|${eventId}`;
}
