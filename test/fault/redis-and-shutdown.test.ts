import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { createProducer, type Producer } from '../../src/intake/producer.js';
import { startSimulator, type Simulator } from '../../src/simulator/server.js';
import { uniquePrefix } from '../harness/context.js';
import { spawnRedis } from '../harness/redis-server.js';
import type { RunningProcess } from '../harness/spawn-process.js';
import { buildWorkload, seedFromEnv } from '../harness/workload.js';
import { startTestPipeline, waitFor } from '../harness/pipeline.js';
import { exitedWithOutput, expectNothingLost, faultOutcome } from './fault-checks.js';
import { allInOneProcess, aofRedis } from './fault-scene.js';
import { NO_ROW_LOSS } from '../harness/no-row-loss.js';
import { RETRY_JITTER } from '../../src/jobs/catalog.js';

const cleanups: Array<() => Promise<unknown>> = [];
/**
 * Bulk batches of the Redis and SIGTERM runs take this long at Target, not the library's 2 s
 * (src/simulator/limits.ts): their faults come half way through the sends, before the first
 * bulk submit, so the batch time only lengthens the drain, which waits out a visitor's
 * batches one after the other. Still well over BULK_STATUS_POLL_MS, so polls read batches
 * `incomplete` first, as the library default means them to.
 */
const BATCH_PROCESSING_MS = 500;
/** Timers and timestamps are whole milliseconds: a wait can read a few ms short of its delay. */
const TIMER_SLACK_MS = 5;
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

function pipelineProcess(redisUrl: string, sim: Simulator, prefix: string): RunningProcess {
  return allInOneProcess(cleanups, redisUrl, sim, prefix, { RETRY_MAX_MS: '1000', WORKER_LOCK_MS: '3000' });
}

/**
 * Sends every group of the workload and returns how many copies intake accepted. A POS
 * resends a batch whose answer it never got; faults are injected only between groups, so
 * no send's outcome is left unknown and the count is exact.
 */
async function sendAll(
  producer: Producer,
  groups: unknown[][][],
  between?: (i: number) => Promise<void>,
): Promise<number> {
  let accepted = 0;
  for (const [i, group] of groups.entries()) {
    await Promise.all(
      group.map(async (batch) => {
        for (let tries = 0; ; tries += 1) {
          try {
            const summary = await producer.sendMany(batch);
            expect(summary.rejected).toEqual([]);
            accepted += summary.accepted;
            return;
          } catch (error) {
            if (tries >= 100) throw error;
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      }),
    );
    if (between !== undefined) await between(i);
  }
  return accepted;
}

describe('Redis and process faults (P7): final profiles equal the oracle, lost = 0', () => {
  it(
    'survives redis-server (append-only) killed with SIGKILL and restarted during load',
    { timeout: 60_000 },
    async () => {
      const seed = seedFromEnv();
      const redis = await aofRedis(cleanups, 'aof');
      const sim = await startSimulator({ ...NO_ROW_LOSS, clientCode: 'acme', batchProcessingMs: BATCH_PROCESSING_MS });
      cleanups.push(() => sim.close());
      const prefix = uniquePrefix('aof');
      const proc = pipelineProcess(redis.url, sim, prefix);
      await proc.waitForLine(/target-ingest running/);
      const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
      // Connection errors while Redis is down are expected; the producer's sends wait them out.
      connection.on('error', () => undefined);
      cleanups.push(() => Promise.resolve(connection.disconnect()));
      const producer = createProducer({ connection, prefix, source: 'pos' });
      const workload = buildWorkload({ seed, events: 3000, visitors: 300, batchSize: 100, concurrentBatches: 2 });
      const accepted = await sendAll(producer, workload.groups, async (i) => {
        if (i !== Math.floor(workload.groups.length / 2)) return;
        await redis.kill();
        await new Promise((r) => setTimeout(r, 500));
        await redis.restart();
      });
      await producer.close();
      const outcome = await faultOutcome({
        redis: connection,
        prefix,
        accepted,
        events: workload.events,
        landed: () => sim.store.all(),
      });
      expectNothingLost(outcome, `seed ${seed}`);
    },
  );

  it(
    'SIGTERM during load exits 0 after handing work back; a restart delivers everything',
    { timeout: 60_000 },
    async () => {
      const seed = seedFromEnv();
      const sim = await startSimulator({
        ...NO_ROW_LOSS,
        clientCode: 'acme',
        latencyMs: 20,
        batchProcessingMs: BATCH_PROCESSING_MS,
      });
      cleanups.push(() => sim.close());
      const redis = await spawnRedis();
      cleanups.push(() => redis.stop());
      const prefix = uniquePrefix('term');
      let proc = pipelineProcess(redis.url, sim, prefix);
      await proc.waitForLine(/target-ingest running/);
      const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
      cleanups.push(() => Promise.resolve(connection.disconnect()));
      const producer = createProducer({ connection, prefix, source: 'pos' });
      const workload = buildWorkload({ seed, events: 3000, visitors: 300 });
      let exitCode: number | string | undefined;
      const accepted = await sendAll(producer, workload.groups, async (i) => {
        if (i === Math.floor(workload.groups.length / 2)) {
          proc.kill('SIGTERM');
          exitCode = await exitedWithOutput(proc);
        }
      });
      expect(exitCode).toBe(0);
      expect(
        proc.lines.some((l) => l.includes('"msg":"stopped"')),
        proc.lines.slice(-10).join('\n'),
      ).toBe(true);
      // Some events were accepted while no worker ran; nothing may be lost on restart.
      proc = pipelineProcess(redis.url, sim, prefix);
      await producer.close();
      const outcome = await faultOutcome({
        redis: connection,
        prefix,
        accepted,
        events: workload.events,
        landed: () => sim.store.all(),
      });
      expectNothingLost(outcome, `seed ${seed}`);
    },
  );

  it(
    'Target down for several backoff steps while events keep coming: all lands after, memory bounded, backoff visible',
    { timeout: 60_000 },
    async () => {
      const seed = seedFromEnv();
      const redis = await spawnRedis();
      cleanups.push(() => redis.stop());
      const running = await startTestPipeline({
        REDIS_URL: redis.url,
        DELIVERY_MODE: 'single',
        RETRY_BASE_MS: '100',
        RETRY_MAX_MS: '3000',
        CLAIM_LEASE_MS: '8000',
      });
      cleanups.push(() => running.close());
      const probe = new Redis(redis.url, { maxRetriesPerRequest: null });
      cleanups.push(async () => probe.quit());
      const usedMemory = async (): Promise<number> =>
        Number(/used_memory:(\d+)/.exec(await probe.info('memory'))?.[1] ?? 0);
      const sim = running.simulator;
      // Backoff, seen on one visitor Target keeps refusing with 503: each attempt waits longer.
      sim.faults.rejectVisitor('CRM-BACKOFF', 503);
      const single = createProducer({ connection: probe, prefix: running.prefix, source: 'pos' });
      const backoffEvent = {
        id: 'b-1',
        type: 'kiosk_visit',
        occurredAt: new Date().toISOString(),
        visitor: { mbox3rdPartyId: 'CRM-BACKOFF' },
        data: { kioskId: 'K1' },
      };
      expect((await single.send(backoffEvent)).status).toBe('accepted');
      await single.close();
      expect(await waitFor(() => (sim.stats.byStatus[503] ?? 0) >= 5, 20_000)).toBe(true);
      // When each attempt arrived, not when it was answered: a slow answer must not shorten the next gap.
      const attempts = sim.stats.requests.filter((r) => r.status === 503).map((r) => r.receivedAt ?? r.at);
      const gaps = attempts.slice(1).map((at, i) => at - (attempts[i] ?? at));
      // Each wait is at least its step of the policy: RETRY_BASE_MS doubled per attempt, less
      // at most half for jitter (RETRY_JITTER), so 50, 100, 200 and 400 ms at the least. A
      // loaded machine only lengthens waits, so this holds under load, where comparing two
      // measured gaps did not (a first gap stretched by the scheduler failed it once).
      for (const [i, gap] of gaps.slice(0, 4).entries()) {
        expect(gap, `gaps between attempts: ${gaps.join(', ')} ms`).toBeGreaterThanOrEqual(
          100 * 2 ** i * (1 - RETRY_JITTER) - TIMER_SLACK_MS,
        );
      }
      sim.faults.restore();
      sim.stats.reset();
      sim.faults.outage(503);
      const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
      cleanups.push(async () => connection.quit());
      const producer = createProducer({ connection, prefix: running.prefix, source: 'pos' });
      // 200 visitors, then 4,000 more events for the same visitors during the outage.
      const workload = buildWorkload({ seed, events: 4200, visitors: 200 });
      // Sampled once the map has merged what was sent: an event still waiting in its ingest
      // job is a copy of it, which a loaded machine (the whole suite) keeps longer.
      const merged = async (): Promise<boolean> =>
        Object.values(await running.pipeline.queues.ingest.getJobCounts('waiting', 'active', 'prioritized')).every(
          (n) => n === 0,
        );
      const before = await usedMemory();
      let accepted = 1 + (await sendAll(producer, workload.groups.slice(0, 3)));
      expect(await waitFor(merged, 10_000)).toBe(true);
      const afterFirst = await usedMemory();
      accepted += await sendAll(producer, workload.groups.slice(3));
      expect(await waitFor(merged, 10_000)).toBe(true);
      const duringOutage = await usedMemory();
      await producer.close();
      expect(await waitFor(() => (sim.stats.byStatus[503] ?? 0) >= 5 * 50, 30_000, 100)).toBe(true);

      // Memory grows with the dedupe marks of new events, not with a copy of every event.
      const perEvent = (duringOutage - afterFirst) / (workload.events.length - 300);
      expect(
        perEvent,
        `bytes per event during the outage (before ${before}, after first ${afterFirst}, during ${duringOutage})`,
      ).toBeLessThan(250);

      sim.faults.restore();
      const outcome = await faultOutcome({
        redis: probe,
        prefix: running.prefix,
        accepted,
        events: [...workload.events, backoffEvent],
        landed: () => sim.store.all(),
      });
      expectNothingLost(outcome, `seed ${seed}`);
    },
  );
});
