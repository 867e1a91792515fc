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
 */
import { fnv1a } from '../redis/shards.js';

/** Buckets per generation. */
export const MARKER_BUCKETS = 8192;

/** The field that marks event `id` of `source`. */
export function markerField(source: string, id: string): string {
  return `${source}:${id}`;
}

/** The bucket of an event id's marker. */
export function markerBucket(source: string, id: string): number {
  return fnv1a(markerField(source, id)) % MARKER_BUCKETS;
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
  return (generation + 2) * windowMs + Math.floor((bucket * windowMs) / (8 * MARKER_BUCKETS));
}
