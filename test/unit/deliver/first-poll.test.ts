import { describe, expect, it } from 'vitest';
import { nextFirstPollMs, plannedReadMs } from '../../../src/deliver/first-poll.js';

const bounds = { initialMs: 5000, minMs: 250, maxMs: 600_000 };

describe('first batch-status poll', () => {
  it('halves after a batch read complete at its first poll, down to the floor', () => {
    expect(nextFirstPollMs({ firstPollMs: 5000, incompletePolls: 0, elapsedMs: 5010 }, bounds)).toBe(2500);
    let delay = 5000;
    for (let i = 0; i < 10; i += 1)
      delay = nextFirstPollMs({ firstPollMs: delay, incompletePolls: 0, elapsedMs: delay }, bounds);
    expect(delay).toBe(250);
  });

  it('takes the time a batch took when it needed more than one poll, up to the ceiling', () => {
    // Real Target: a batch read complete after 7 min of polls; the next is read first at 7 min.
    expect(nextFirstPollMs({ firstPollMs: 5000, incompletePolls: 9, elapsedMs: 420_000 }, bounds)).toBe(420_000);
    expect(nextFirstPollMs({ firstPollMs: 5000, incompletePolls: 30, elapsedMs: 3_600_000 }, bounds)).toBe(600_000);
  });

  it('does not learn a hold or a spent budget as processing time: a read put off past its schedule counts as on time', () => {
    // Answered incomplete at 400 ms (its second poll), then held 10 minutes: the read the
    // schedule planned, 100 ms · 2² later, is the soonest it could have been read complete.
    const plannedMs = plannedReadMs(400, 2, 100, 60_000);
    expect(plannedMs).toBe(800);
    expect(nextFirstPollMs({ firstPollMs: 100, incompletePolls: 2, elapsedMs: 600_400, plannedMs }, bounds)).toBe(800);
    // Read on schedule, or sooner: what it took.
    expect(nextFirstPollMs({ firstPollMs: 100, incompletePolls: 2, elapsedMs: 790, plannedMs }, bounds)).toBe(790);
    // Only errors before `complete` (a 401 that opened a hold): the first planned read.
    expect(nextFirstPollMs({ firstPollMs: 100, incompletePolls: 1, elapsedMs: 600_400, plannedMs: 100 }, bounds)).toBe(
      250,
    );
    // The doubling stops at the poll ceiling.
    expect(plannedReadMs(300_000, 12, 5000, 600_000)).toBe(900_000);
  });

  it('settles near a steady processing time instead of polling every few seconds', () => {
    // Batches that take 2 s: the delay alternates around them, one extra poll every few batches.
    const takes = 2000;
    let delay = 5000;
    let polls = 0;
    for (let batch = 0; batch < 30; batch += 1) {
      let at = delay;
      let incomplete = 0;
      while (at < takes) {
        incomplete += 1;
        at += delay * 2 ** incomplete;
      }
      polls += incomplete + 1;
      delay = nextFirstPollMs({ firstPollMs: delay, incompletePolls: incomplete, elapsedMs: at }, bounds);
      expect(delay).toBeGreaterThanOrEqual(bounds.minMs);
    }
    expect(polls / 30).toBeLessThan(1.6);
  });
});
