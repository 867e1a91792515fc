/**
 * Layout of the event-id markers that make intake idempotent (P2), as pure functions.
 *
 * A marker is one field `<source>:<id>` in a hash, not a key of its own: a key with a TTL
 * cost 136 B per event id in Redis, kept for the whole dedupe window, which made markers the
 * largest part of the store (7 days at 1,000 events/s: 82 GB). Hashes are split by time and
 * by a hash of the field:
 * - generation: `floor(now / DEDUPE_WINDOW_MS)`. Markers are written to the current
 *   generation and looked up in the current and the previous one, so an id is remembered
 *   for at least the dedupe window and at most about twice it;
 * - bucket: FNV-1a of the field modulo {@link MARKER_BUCKETS}, so no one hash grows without
 *   bound and hashes of up to 128 fields stay in Redis's compact listpack encoding;
 * - each hash expires after its two generations, the buckets spread over an eighth of the
 *   window, so Redis never frees a whole generation at one instant.
 * The map worker's merge script (src/coalesce/lua/merge-events.lua) builds the same names
 * from the bucket and expiry it is given per event.
 *
 * A marker's value says who wrote it: `a…` the merge (applied, with the event's lineage);
 * a number, intake with one shard (taken in by ingest job `intake-<number>`, and counted as
 * seen only while that job exists: src/coalesce/lua/marks-claim.lua); `t`, intake with
 * several shards (taken in, written once the job was stored).
 */
import { fnv1a } from '../redis/shards.js';

/** Buckets per generation. */
export const MARKER_BUCKETS = 8192;

/** The field that marks event `id` of `source`. */
export function markerField(source: string, id: string): string {
  return `${source}:${id}`;
}

/** The hash of `<source>:`, from which {@link markerBucket} finishes the buckets of that source's ids. */
export function markerSeed(source: string): number {
  return fnv1a(`${source}:`);
}

/** The bucket of an event id's marker: FNV-1a of its field (`seed`: {@link markerSeed} of `source`, to reuse). */
export function markerBucket(source: string, id: string, seed = markerSeed(source)): number {
  return fnv1a(id, seed) % MARKER_BUCKETS;
}

/** The generation markers written at `now` go to. */
export function markerGeneration(now: number, windowMs: number): number {
  return Math.floor(now / windowMs);
}

/**
 * When the hash of one generation and bucket expires (epoch ms): after it has been the
 * previous generation for a whole window, plus the bucket's share of an eighth of a window.
 */
export function markerExpiresAt(generation: number, bucket: number, windowMs: number): number {
  return (generation + 2) * windowMs + Math.floor((bucket * windowMs) / MARKER_EXPIRY_SPREAD);
}

/** The buckets' expiry is spread over window / this (an eighth); marks-claim.lua is given it. */
export const MARKER_EXPIRY_SPREAD = 8 * MARKER_BUCKETS;
