import { setFlagsFromString } from 'node:v8';

/**
 * Bounds how far a process's heap grows past its live data. V8 sizes the next major-GC limit
 * at up to 4x what survived the last one when allocation is fast, so a worker whose live
 * heap is 40–100 MB (a deliver process promotes about 15 MB/s of short-lived request
 * objects under load) sat at 240–300 MB RSS in the bench. With the limit at 1.5x (50 %) the
 * same runs peaked at about 165 MB with the same throughput; nothing caps the heap, so a
 * large bulk claim still gets the memory it needs.
 *
 * V8 reads `--heap-growing-percent` each time it sets a new limit, so it can be set after
 * start-up, which keeps `node dist/workers/<role>.js` (and any NODE_OPTIONS) as they are.
 * 0 leaves V8's default.
 */
export function boundHeapGrowth(percent: number, setFlags: (flags: string) => void = setFlagsFromString): void {
  if (percent > 0) setFlags(`--heap-growing-percent=${percent}`);
}
