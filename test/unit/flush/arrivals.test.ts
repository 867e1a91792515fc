import { describe, expect, it } from 'vitest';
import { ArrivalWatch } from '../../../src/flush/arrivals.js';

describe('ArrivalWatch', () => {
  it('takes its first count as a baseline: a flusher starting in a quiet pipeline holds nothing back', () => {
    const watch = new ArrivalWatch(5000, 60_000);
    expect(watch.inTail(0)).toBe(false);
    watch.observe(1000, { unmerged: 0, applied: 70 });
    expect(watch.stillComing(1000)).toBe(false);
    expect(watch.inTail(1000)).toBe(false);
    watch.observe(2000, { unmerged: 0, applied: 70 });
    expect(watch.stillComing(2000)).toBe(false);
  });

  it('counts ingest jobs not merged yet as visitors coming, from its first reading', () => {
    const watch = new ArrivalWatch(5000, 60_000);
    watch.observe(1000, { unmerged: 3, applied: 0 });
    expect(watch.stillComing(1000)).toBe(true);
    // Merged at 1,500, seen at 2,000: the window runs from the reading, never earlier.
    watch.observe(2000, { unmerged: 0, applied: 0 });
    expect(watch.quietAt()).toBe(6000);
    expect(watch.stillComing(5999)).toBe(true);
    expect(watch.stillComing(6000)).toBe(false);
  });

  it('counts a change of the applied count as activity, whichever way it moves', () => {
    const watch = new ArrivalWatch(5000, 60_000);
    watch.observe(1000, { unmerged: 0, applied: 10 });
    watch.observe(3000, { unmerged: 0, applied: 25 });
    expect(watch.quietAt()).toBe(8000);
    // A counter reset (the stats hash deleted) is activity too, not a quiet pipeline.
    watch.observe(9000, { unmerged: 0, applied: 0 });
    expect(watch.stillComing(13_999)).toBe(true);
    watch.observe(14_000, { unmerged: 0, applied: 0 });
    expect(watch.stillComing(14_000)).toBe(false);
  });

  it('never moves the last activity back for a reading made earlier', () => {
    const watch = new ArrivalWatch(5000, 60_000);
    watch.observe(4000, { unmerged: 1, applied: 0 });
    watch.observe(3000, { unmerged: 1, applied: 0 });
    expect(watch.quietAt()).toBe(9000);
  });

  it("lets a flood's tail pass the gate once it is over, only if the calls kept back held a claim back in that flood", () => {
    const watch = new ArrivalWatch(5000, 60_000);
    watch.observe(1000, { unmerged: 2, applied: 0 });
    watch.observe(5500, { unmerged: 2, applied: 0 });
    expect(watch.tailGoes(10_500)).toBe(false); // nothing was held back
    watch.observe(7000, { unmerged: 1, applied: 0 });
    watch.heldBack(7000);
    expect(watch.tailGoes(11_999)).toBe(false); // still coming
    expect(watch.tailGoes(12_000)).toBe(true);
    // Once: visitors coming due after the last claim go through the gate, still in the tail,
    // for one budget window after it.
    watch.takeTail(12_000);
    expect(watch.tailGoes(14_000)).toBe(false);
    expect(watch.inTail(14_000)).toBe(true);
    expect(watch.inTail(71_999)).toBe(true);
    expect(watch.inTail(72_000)).toBe(false);
    // The next flood starts: nothing held back in it, so its end is paced as usual.
    watch.observe(80_000, { unmerged: 1, applied: 0 });
    expect(watch.tailGoes(80_000)).toBe(false);
    expect(watch.inTail(80_000)).toBe(false);
    watch.observe(84_000, { unmerged: 0, applied: 0 });
    expect(watch.tailGoes(89_000)).toBe(false);
    // Held back in the next one: its tail goes once too.
    watch.observe(100_000, { unmerged: 1, applied: 0 });
    watch.heldBack(100_000);
    watch.observe(104_000, { unmerged: 1, applied: 0 });
    watch.observe(105_000, { unmerged: 1, applied: 0 });
    expect(watch.tailGoes(110_000)).toBe(true);
  });

  // The watch reads only when bulk work is due: a lone visitor is first seen at its due time.
  it('gives no tail to a flood seen for less than a window (a visitor of a trickle)', () => {
    const watch = new ArrivalWatch(5000, 60_000);
    watch.observe(1000, { unmerged: 0, applied: 5 });
    watch.observe(30_000, { unmerged: 0, applied: 6 });
    watch.heldBack(30_000);
    expect(watch.stillComing(34_999)).toBe(true);
    expect(watch.inTail(35_000)).toBe(false);
    expect(watch.tailGoes(35_000)).toBe(false);
  });

  it('counts a hold-back made with a tick time older than the reading that started the flood in that flood', () => {
    const watch = new ArrivalWatch(5000, 60_000);
    watch.observe(1000, { unmerged: 1, applied: 0 });
    watch.heldBack(900);
    watch.observe(4000, { unmerged: 1, applied: 0 });
    watch.observe(6500, { unmerged: 1, applied: 0 });
    expect(watch.tailGoes(11_500)).toBe(true);
  });
});
