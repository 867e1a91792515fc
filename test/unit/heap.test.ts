import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { boundHeapGrowth } from '../../src/heap.js';

describe('boundHeapGrowth', () => {
  it("sets V8's heap growing percent from HEAP_GROWING_PERCENT (default 50), and leaves V8 alone at 0", () => {
    const set: string[] = [];
    boundHeapGrowth(loadConfig({}).HEAP_GROWING_PERCENT, (flags) => set.push(flags));
    boundHeapGrowth(loadConfig({ HEAP_GROWING_PERCENT: '0' }).HEAP_GROWING_PERCENT, (flags) => set.push(flags));
    boundHeapGrowth(loadConfig({ HEAP_GROWING_PERCENT: '200' }).HEAP_GROWING_PERCENT, (flags) => set.push(flags));
    expect(set).toEqual(['--heap-growing-percent=50', '--heap-growing-percent=200']);
  });

  it('refuses a value out of range, naming the variable', () => {
    expect(() => loadConfig({ HEAP_GROWING_PERCENT: '5000' })).toThrow(
      /HEAP_GROWING_PERCENT: expected 0-1000 \(0: V8 decides\), got 5000/,
    );
  });
});
