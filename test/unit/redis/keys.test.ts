import { describe, expect, it } from 'vitest';
import { hashTag, stamp, storeKeys } from '../../../src/redis/keys.js';

describe('keys', () => {
  it('puts every key of a pipeline under one hash tag', () => {
    const keys = storeKeys('ti');
    expect(hashTag('ti')).toBe('{ti}');
    for (const key of [
      keys.pending('pc:1'),
      keys.inFlight('3p:x'),
      keys.delivered('pc:1'),
      keys.due,
      keys.leases,
      keys.seen(2920, 17),
    ]) {
      expect(key.startsWith('{ti}:')).toBe(true);
    }
  });

  it('orders stamps by event time first, then by event id', () => {
    expect(stamp(2_000, 'a') > stamp(1_999, 'z')).toBe(true);
    expect(stamp(1_000, 'b') > stamp(1_000, 'a')).toBe(true);
    // Widths are fixed, so 10 ms does not sort before 9 ms as plain digits would.
    expect(stamp(10, 'a') > stamp(9, 'a')).toBe(true);
    expect(Number(stamp(1_763_720_100_000, 'x|y').split('|')[0])).toBe(1_763_720_100_000);
  });
});
