import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterEach, beforeEach } from 'vitest';
import { createProducer } from '../../src/intake/producer.js';
import { deletePrefix, newRedis } from '../harness/context.js';
import { startTestPipeline } from '../harness/pipeline.js';
import type { SentEvent } from './fault-workload.js';

/** One pipeline per test (closed, keys deleted), a Redis connection and a scratch folder. */
export interface FaultPipelines {
  redis(): Redis;
  dir(): string;
  start(...args: Parameters<typeof startTestPipeline>): ReturnType<typeof startTestPipeline>;
  /** Sends events as source `pos` to the running pipeline; returns how many were accepted. */
  send(events: readonly SentEvent[]): Promise<number>;
}

export function faultPipelinePerTest(): FaultPipelines {
  let redis: Redis | undefined;
  let dir = '';
  let running: Awaited<ReturnType<typeof startTestPipeline>> | undefined;
  beforeEach(() => {
    redis = newRedis();
    dir = mkdtempSync(join(tmpdir(), 'ti-fault-'));
  });
  afterEach(async () => {
    if (running !== undefined && redis !== undefined) {
      await running.close();
      await deletePrefix(redis, running.prefix);
    }
    running = undefined;
    await redis?.quit();
    rmSync(dir, { recursive: true, force: true });
  });
  const connection = (): Redis => {
    if (redis === undefined) throw new Error('no Redis before the test starts');
    return redis;
  };
  return {
    redis: connection,
    dir: () => dir,
    async start(...args) {
      running = await startTestPipeline(...args);
      return running;
    },
    async send(events) {
      if (running === undefined) throw new Error('no pipeline');
      const producer = createProducer({ connection: connection(), prefix: running.prefix, source: 'pos' });
      const { accepted } = await producer.sendMany(events);
      await producer.close();
      return accepted;
    },
  };
}
