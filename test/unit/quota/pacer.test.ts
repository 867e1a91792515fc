import { describe, expect, it } from 'vitest';
import { bulkPaceMs, bulkRoom, committedBulkCalls, tailReserveCalls } from '../../../src/quota/pacer.js';

const MINUTE = 60_000;

describe('bulk pacing', () => {
  it('counts the status polls the claims in flight still owe as committed', () => {
    expect(committedBulkCalls({ used: 10, limit: 50, claimsInFlight: 0 })).toBe(10);
    expect(committedBulkCalls({ used: 10, limit: 50, claimsInFlight: 3 })).toBe(16);
  });

  it('gives a quarter of the interval while less than half the budget is committed', () => {
    expect(bulkPaceMs({ used: 0, limit: 50, claimsInFlight: 0 }, 4800, MINUTE)).toBe(1200);
    expect(bulkPaceMs({ used: 12, limit: 50, claimsInFlight: 0 }, 4800, MINUTE)).toBe(1200);
    // The burst the issue measured: 10–12 calls spent, a few claims in flight owing polls.
    expect(bulkPaceMs({ used: 12, limit: 50, claimsInFlight: 3 }, 4800, MINUTE)).toBe(1200);
    expect(bulkPaceMs({ used: 24, limit: 50, claimsInFlight: 0 }, 4800, MINUTE)).toBe(1200);
    expect(bulkPaceMs({ used: 0, limit: 4, claimsInFlight: 0 }, 1000, 1000)).toBe(250);
  });

  it('spreads the calls left over the window from half on: the interval scaled by limit / calls left', () => {
    expect(bulkPaceMs({ used: 25, limit: 50, claimsInFlight: 0 }, 4800, MINUTE)).toBe(9600);
    // 19 calls spent, but 3 claims in flight owe 6 polls: 25 committed, 25 left.
    expect(bulkPaceMs({ used: 19, limit: 50, claimsInFlight: 3 }, 4800, MINUTE)).toBe(9600);
    // 30 committed, 20 left: 4800 × 50 / 20.
    expect(bulkPaceMs({ used: 30, limit: 50, claimsInFlight: 0 }, 4800, MINUTE)).toBe(12_000);
  });

  it('closes the gate for at most four intervals and at most the window, since it cannot reopen early', () => {
    // 10 left would give 24 s: four intervals, 19.2 s.
    expect(bulkPaceMs({ used: 40, limit: 50, claimsInFlight: 0 }, 4800, MINUTE)).toBe(19_200);
    expect(bulkPaceMs({ used: 50, limit: 50, claimsInFlight: 0 }, 4800, MINUTE)).toBe(19_200);
    // The interval has a 1-s floor (bulkRetryMs in src/flush/role.ts), so with a 2-s window the window caps it.
    expect(bulkPaceMs({ used: 40, limit: 50, claimsInFlight: 0 }, 1000, 2000)).toBe(2000);
    expect(bulkPaceMs({ used: 30, limit: 50, claimsInFlight: 0 }, 1000, 2000)).toBe(2000);
    expect(bulkPaceMs({ used: 27, limit: 50, claimsInFlight: 0 }, 1000, 4000)).toBeCloseTo(2173.9, 0);
  });

  it('has room for a claim while its file and poll fit beside what is committed and a tenth kept back', () => {
    // 50 a minute: 5 kept back, so up to 43 committed leaves room for 2 more.
    expect(bulkRoom({ used: 43, limit: 50, claimsInFlight: 0 })).toBe(true);
    expect(bulkRoom({ used: 44, limit: 50, claimsInFlight: 0 })).toBe(false);
    expect(bulkRoom({ used: 35, limit: 50, claimsInFlight: 4 })).toBe(true);
    expect(bulkRoom({ used: 36, limit: 50, claimsInFlight: 4 })).toBe(false);
  });

  it('lets one claim through at the smallest budgets config allows (2 a minute)', () => {
    expect(bulkRoom({ used: 0, limit: 2, claimsInFlight: 0 })).toBe(true);
    expect(bulkRoom({ used: 1, limit: 2, claimsInFlight: 0 })).toBe(false);
    expect(bulkRoom({ used: 0, limit: 3, claimsInFlight: 0 })).toBe(true);
    expect(bulkRoom({ used: 0, limit: 3, claimsInFlight: 1 })).toBe(false);
  });

  it('keeps the calls of one claim (4) back for the last visitors, and half the rest at most at small budgets', () => {
    expect(tailReserveCalls(50)).toBe(4);
    expect(tailReserveCalls(35)).toBe(4);
    // 8 a minute: 8 usable, 6 beside a claim's own 2: 3 kept back.
    expect(tailReserveCalls(8)).toBe(3);
    expect(tailReserveCalls(3)).toBe(0);
    expect(tailReserveCalls(2)).toBe(0);
    // 40 + 2 + 4 = 46 > 45: the reserve holds the claim back; without it there is room.
    expect(bulkRoom({ used: 40, limit: 50, claimsInFlight: 0 }, 4)).toBe(false);
    expect(bulkRoom({ used: 39, limit: 50, claimsInFlight: 0 }, 4)).toBe(true);
    expect(bulkRoom({ used: 40, limit: 50, claimsInFlight: 0 })).toBe(true);
  });
});
