import { describe, expect, it } from 'vitest';
import { MARKER_BUCKETS, markerBucket, markerExpiresAt, markerGeneration } from '../../../src/coalesce/markers.js';

const DAY = 24 * 3600_000;
const WEEK = 7 * DAY;

describe('event-id marker layout', () => {
  it('remembers a marker for at least the window and at most 2⅛ windows, wherever in a generation it was written', () => {
    for (const window of [1000, 60_000, WEEK]) {
      for (let k = 0; k < 2000; k += 1) {
        const writtenAt = 1_796_000_000_000 + Math.floor((((k * 7919) % 10_007) / 10_007) * 3 * window);
        const bucket = k % MARKER_BUCKETS;
        const generation = markerGeneration(writtenAt, window);
        const expiresAt = markerExpiresAt(generation, bucket, window);
        // Looked up in the current and the previous generation until the window has passed.
        const lastLookup = writtenAt + window - 1;
        expect(markerGeneration(lastLookup, window) - generation).toBeLessThanOrEqual(1);
        expect(expiresAt).toBeGreaterThan(lastLookup);
        expect(expiresAt - writtenAt).toBeLessThanOrEqual(2 * window + window / 8);
      }
    }
  });

  it("spreads the expiry of one generation's buckets over an eighth of the window", () => {
    const times = Array.from({ length: MARKER_BUCKETS }, (_, b) => markerExpiresAt(100, b, WEEK));
    expect(new Set(times).size).toBe(MARKER_BUCKETS);
    expect(Math.max(...times) - Math.min(...times)).toBeLessThan(WEEK / 8);
    expect(Math.min(...times)).toBe(102 * WEEK);
  });

  it('puts an id in the same bucket every time, and spreads ids over all buckets', () => {
    expect(markerBucket('pos', 'e-1')).toBe(markerBucket('pos', 'e-1'));
    const counts = new Array<number>(MARKER_BUCKETS).fill(0);
    for (let i = 0; i < 40 * MARKER_BUCKETS; i += 1) {
      const bucket = markerBucket('pos-eu', `pos-eu-7-${String(i).padStart(9, '0')}`);
      counts[bucket] = (counts[bucket] ?? 0) + 1;
    }
    // 40 ids per bucket on average: every bucket used, none with more than twice its share.
    expect(Math.min(...counts)).toBeGreaterThan(0);
    expect(Math.max(...counts)).toBeLessThanOrEqual(80);
  });
});
