import { describe, expect, it } from 'vitest';
import {
  BULK_LATEST_LANDING_MS,
  addUntracked,
  recheckDelays,
  untrackedOf,
} from '../../../src/deliver/untracked-copies.js';

describe('untracked copies of a bulk claim', () => {
  it('adds visitors once each and keeps the time the last copy left', () => {
    const first = addUntracked({}, ['3p:A', '3p:B'], 1_000);
    expect(first).toEqual({ answerLost: ['3p:A', '3p:B'], answerLostAt: 1_000 });
    expect(addUntracked(first, ['3p:B', '3p:C'], 5_000)).toEqual({
      answerLost: ['3p:A', '3p:B', '3p:C'],
      answerLostAt: 5_000,
    });
    // A copy recorded late (an older submit time) never moves the time back.
    expect(addUntracked(first, ['3p:D'], 500).answerLostAt).toBe(1_000);
  });

  it('adds nothing, and writes no empty fields, when no copy is untracked', () => {
    expect(addUntracked({}, [], 1_000)).toEqual({});
    expect(untrackedOf({ answerLost: [], answerLostAt: 7 })).toEqual({});
    expect(untrackedOf({ answerLost: ['3p:A'], answerLostAt: 7 })).toEqual({ answerLost: ['3p:A'], answerLostAt: 7 });
  });

  it('reads back after the audit delay, and again at the end of the 24 hours since the last copy left', () => {
    const lostAt = 1_000_000;
    const now = lostAt + 60_000;
    expect(recheckDelays(lostAt, now, 3_600_000)).toEqual([3_600_000, BULK_LATEST_LANDING_MS - 60_000]);
    // The 24 hours are over by the first read-back: one is enough.
    expect(recheckDelays(lostAt, lostAt + BULK_LATEST_LANDING_MS - 1_000, 3_600_000)).toEqual([3_600_000]);
    expect(recheckDelays(lostAt, lostAt + 2 * BULK_LATEST_LANDING_MS, 3_600_000)).toEqual([3_600_000]);
  });
});
