import { describe, expect, it } from 'vitest';
import { MERGE_SCRIPT_EVENTS, mergeChunks } from '../../../src/coalesce/store.js';

const vkOf = (e: { vk: string }) => e.vk;
const events = (spec: Array<[string, number]>) =>
  spec.flatMap(([vk, n]) => Array.from({ length: n }, (_, k) => ({ vk, k })));

describe('merge calls of a batch', () => {
  it("keeps each visitor's events in one call, in their order, calls of at most MERGE_SCRIPT_EVENTS", () => {
    // Interleaved as a Zipf batch is: the busy visitor A appears all through it.
    const batch = Array.from({ length: 3 * MERGE_SCRIPT_EVENTS }, (_, i) => ({
      vk: i % 3 === 0 ? 'A' : `V${i}`,
      k: i,
    }));
    const chunks = mergeChunks(batch, vkOf);
    expect(chunks.flat()).toHaveLength(batch.length);
    for (const chunk of chunks) expect(chunk.length).toBeLessThanOrEqual(MERGE_SCRIPT_EVENTS);
    const holding = chunks.filter((c) => c.some((e) => e.vk === 'A'));
    expect(holding).toHaveLength(1);
    expect(holding[0]?.filter((e) => e.vk === 'A').map((e) => e.k)).toEqual(
      batch.filter((e) => e.vk === 'A').map((e) => e.k),
    );
    // The same input gives the same calls (a job run again finds its parts).
    expect(mergeChunks(batch, vkOf)).toEqual(chunks);
  });

  it('gives a visitor with more events than a call takes a call of its own, and fills calls up to the limit', () => {
    const chunks = mergeChunks(
      events([
        ['A', 30],
        ['HOT', MERGE_SCRIPT_EVENTS + 20],
        ['B', 70],
        ['C', 40],
      ]),
      vkOf,
    );
    expect(chunks.map((c) => [...new Set(c.map((e) => e.vk))])).toEqual([['A'], ['HOT'], ['B'], ['C']]);
    expect(
      mergeChunks(
        events([
          ['A', 30],
          ['B', 70],
          ['C', 40],
        ]),
        vkOf,
      ).map((c) => c.length),
    ).toEqual([100, 40]);
    expect(mergeChunks([], vkOf)).toEqual([]);
  });
});
