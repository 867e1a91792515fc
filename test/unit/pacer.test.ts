import { describe, expect, it } from 'vitest';
import { bulkPaceMs, bulkRoom, committedBulkCalls } from '../../src/target/pacer.js';

describe('bulk pacing', () => {
  it('counts the status polls the claims in flight still owe as committed', () => {
    expect(committedBulkCalls({ used: 10, limit: 50, claimsInFlight: 0 })).toBe(10);
    expect(committedBulkCalls({ used: 10, limit: 50, claimsInFlight: 3 })).toBe(16);
  });

  it('gives a quarter of the interval below a quarter of the budget committed', () => {
    expect(bulkPaceMs({ used: 0, limit: 50, claimsInFlight: 0 }, 4800)).toBe(1200);
    expect(bulkPaceMs({ used: 12, limit: 50, claimsInFlight: 0 }, 4800)).toBe(1200);
    expect(bulkPaceMs({ used: 0, limit: 4, claimsInFlight: 0 }, 1000)).toBe(250);
  });

  it('spreads the calls left over the window from there: the interval scaled by limit / calls left, at most the window', () => {
    // 13 committed, 37 left: 4800 × 50 / 37.
    expect(bulkPaceMs({ used: 13, limit: 50, claimsInFlight: 0 }, 4800)).toBeCloseTo(6486.5, 0);
    // 4 calls spent, but 5 claims in flight owe 10 polls: 14 committed, 36 left.
    expect(bulkPaceMs({ used: 4, limit: 50, claimsInFlight: 5 }, 4800)).toBeCloseTo(6666.7, 0);
    expect(bulkPaceMs({ used: 25, limit: 50, claimsInFlight: 0 }, 4800)).toBe(9600);
    // Nothing left: the whole window (60 s = 4800 × 50 / 4).
    expect(bulkPaceMs({ used: 50, limit: 50, claimsInFlight: 0 }, 4800)).toBe(60_000);
    expect(bulkPaceMs({ used: 49, limit: 50, claimsInFlight: 0 }, 4800)).toBe(60_000);
    // A budget of 4 in a 1-s window: 1 committed, 3 left gives 1333 ms, more than the window.
    expect(bulkPaceMs({ used: 1, limit: 4, claimsInFlight: 0 }, 1000)).toBe(1000);
  });

  it('has room for a claim while its file and poll fit beside what is committed and a tenth kept back', () => {
    // 50 a minute: 5 kept back, so up to 43 committed leaves room for 2 more.
    expect(bulkRoom({ used: 43, limit: 50, claimsInFlight: 0 })).toBe(true);
    expect(bulkRoom({ used: 44, limit: 50, claimsInFlight: 0 })).toBe(false);
    expect(bulkRoom({ used: 35, limit: 50, claimsInFlight: 4 })).toBe(true);
    expect(bulkRoom({ used: 36, limit: 50, claimsInFlight: 4 })).toBe(false);
    // A small budget still lets one claim through.
    expect(bulkRoom({ used: 0, limit: 3, claimsInFlight: 0 })).toBe(true);
    expect(bulkRoom({ used: 0, limit: 3, claimsInFlight: 1 })).toBe(false);
  });
});
