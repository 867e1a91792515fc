import { describe, expect, it } from 'vitest';
import { bulkPaceMs } from '../../src/target/pacer.js';

describe('bulkPaceMs', () => {
  it('gives a quarter of the interval below a quarter of the budget, the whole interval from there', () => {
    expect(bulkPaceMs(0, 50, 4800)).toBe(1200);
    expect(bulkPaceMs(12, 50, 4800)).toBe(1200);
    expect(bulkPaceMs(13, 50, 4800)).toBe(4800);
    expect(bulkPaceMs(50, 50, 4800)).toBe(4800);
    // A limit of 4 (a small test budget): only the first call goes at the short interval.
    expect(bulkPaceMs(0, 4, 1000)).toBe(250);
    expect(bulkPaceMs(1, 4, 1000)).toBe(1000);
  });
});
