import { describe, expect, it } from 'vitest';
import { Backpressure, judgeLoad, type PipelineLoad } from '../../../src/intake/backpressure.js';

const limits = { maxQueuedBatches: 10, maxPendingVisitors: 100, maxMemoryRatio: 0.9 };
const idle: PipelineLoad = { queuedBatches: 0, pendingVisitors: 0, usedMemory: 1_000, maxMemory: 0 };

describe('judgeLoad', () => {
  it('takes work while every limit holds (maxmemory 0 means no memory limit)', () => {
    expect(judgeLoad({ ...idle, queuedBatches: 10, pendingVisitors: 100, usedMemory: 10 ** 12 }, limits)).toEqual({
      ok: true,
    });
  });

  it('answers 429 for a backlog of batches or of visitors, 503 near the memory limit', () => {
    expect(judgeLoad({ ...idle, queuedBatches: 11 }, limits)).toMatchObject({
      ok: false,
      status: 429,
      reason: 'backlog',
    });
    expect(judgeLoad({ ...idle, pendingVisitors: 101 }, limits)).toMatchObject({
      ok: false,
      status: 429,
      reason: 'backlog',
      message: expect.stringContaining('101 visitors') as unknown,
    });
    expect(judgeLoad({ ...idle, usedMemory: 91, maxMemory: 100 }, limits)).toMatchObject({
      ok: false,
      status: 503,
      reason: 'redis_memory',
      message: expect.stringContaining('91%') as unknown,
    });
    expect(judgeLoad({ ...idle, usedMemory: 90, maxMemory: 100 }, limits)).toEqual({ ok: true });
  });
});

describe('Backpressure', () => {
  it('reads the load once per cache period and turns a failed read into 503', async () => {
    let clock = 0;
    let reads = 0;
    let fail = false;
    const backpressure = new Backpressure(
      () => {
        reads += 1;
        return fail ? Promise.reject(new Error('down')) : Promise.resolve(idle);
      },
      limits,
      300,
      () => clock,
    );
    await Promise.all([backpressure.check(), backpressure.check()]);
    clock = 299;
    expect(await backpressure.check()).toEqual({ ok: true });
    expect(reads).toBe(1);
    clock = 300;
    fail = true;
    expect(await backpressure.check()).toMatchObject({ ok: false, status: 503, reason: 'redis_unavailable' });
    expect(reads).toBe(2);
  });
});
