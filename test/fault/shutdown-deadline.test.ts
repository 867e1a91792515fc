import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUE_NAMES, bullPrefix } from '../../src/jobs/catalog.js';
import { afterEach, describe, expect, it } from 'vitest';
import { createProducer } from '../../src/intake/producer.js';
import { SHUTDOWN_CLOSE_MARGIN_MS } from '../../src/lifecycle/signals.js';
import { startSimulator, type Simulator } from '../../src/simulator/server.js';
import { uniquePrefix } from '../harness/context.js';
import { waitFor } from '../harness/pipeline.js';
import { spawnRedis } from '../harness/redis-server.js';
import type { RunningProcess } from '../harness/spawn-process.js';
import { buildWorkload, seedFromEnv } from '../harness/workload.js';
import { countAccepted, exitedWithOutput, expectNothingLost, faultOutcome } from './fault-checks.js';
import { allInOneProcess, aofRedis } from './fault-scene.js';
import { NO_ROW_LOSS } from '../harness/no-row-loss.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

/** Slack on top of the deadline for a loaded machine (process start-up is not in it). */
const SLACK_MS = 5_000;

function allInOne(redisUrl: string, sim: Simulator, prefix: string, env: Record<string, string> = {}): RunningProcess {
  return allInOneProcess(cleanups, redisUrl, sim, prefix, env);
}

function jsonLines(proc: RunningProcess): Array<Record<string, unknown>> {
  return proc.lines.flatMap((line) => {
    try {
      return [JSON.parse(line) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

/** One kiosk visit for `visitor`, sent by a producer of source `pos`. */
function kioskVisit(id: string, visitor: string) {
  return {
    id,
    type: 'kiosk_visit',
    occurredAt: '2026-11-21T10:00:00Z',
    visitor: { mbox3rdPartyId: visitor },
    data: { kioskId: 'K7' },
  };
}

/**
 * An all-in-one process on a fresh Redis and `sim`, one event sent to it, and the id of the
 * delivery job (of `queue`) once it is active.
 */
async function oneDeliveryUnderWay(
  sim: Simulator,
  prefixName: string,
  env: Record<string, string>,
  event: ReturnType<typeof kioskVisit>,
  queue: 'deliverSingle' | 'deliverBulk',
) {
  const redis = await spawnRedis();
  cleanups.push(() => redis.stop());
  const prefix = uniquePrefix(prefixName);
  const first = allInOne(redis.url, sim, prefix, env);
  await first.waitForLine(/target-ingest running/);
  const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
  cleanups.push(async () => connection.quit());
  const producer = createProducer({ connection, prefix, source: 'pos' });
  const counting = countAccepted(producer);
  await counting.sendMany([event]);
  await producer.close();
  const activeKey = `{${prefix}}:${QUEUE_NAMES[queue]}:active`;
  expect(await waitFor(async () => (await connection.llen(activeKey)) === 1, 10_000, 20)).toBe(true);
  const [jobId] = await connection.lrange(activeKey, 0, 0);
  const jobs = new Queue(QUEUE_NAMES[queue], { connection, prefix: bullPrefix(prefix) });
  cleanups.push(() => jobs.close());
  return { redis, prefix, first, connection, accepted: counting.accepted, job: () => jobs.getJob(jobId ?? '') };
}

describe('shutdown has a deadline; what it hands back, another process finishes', () => {
  it(
    'SIGTERM while Redis is down exits 1 within SHUTDOWN_TIMEOUT_MS + margin and names what did not close; nothing is lost',
    { timeout: 60_000 },
    async () => {
      const seed = seedFromEnv();
      const redis = await aofRedis(cleanups, 'down');
      const sim = await startSimulator({ ...NO_ROW_LOSS, clientCode: 'acme' });
      cleanups.push(() => sim.close());
      const prefix = uniquePrefix('down');
      // Target is down too: accepted events are still in Redis (queued or in the store) when it dies.
      sim.faults.outage(503);
      const shutdownTimeoutMs = 1500;
      const proc = allInOne(redis.url, sim, prefix, {
        SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs),
        DELIVERY_MODE: 'single',
      });
      await proc.waitForLine(/target-ingest running/);
      const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
      connection.on('error', () => undefined);
      cleanups.push(() => Promise.resolve(connection.disconnect()));
      const producer = createProducer({ connection, prefix, source: 'pos' });
      const counting = countAccepted(producer);
      const workload = buildWorkload({ seed, events: 400, visitors: 80 });
      for (const group of workload.groups) await Promise.all(group.map((batch) => counting.sendMany(batch)));
      expect(await waitFor(() => (sim.stats.byStatus[503] ?? 0) > 0, 20_000)).toBe(true);

      await redis.kill();
      const signalledAt = Date.now();
      proc.kill('SIGTERM');
      const code = await exitedWithOutput(proc);
      const tookMs = Date.now() - signalledAt;
      expect(code, proc.lines.slice(-20).join('\n')).toBe(1);
      expect(tookMs).toBeGreaterThanOrEqual(shutdownTimeoutMs);
      expect(tookMs).toBeLessThan(shutdownTimeoutMs + SHUTDOWN_CLOSE_MARGIN_MS + SLACK_MS);
      const said = jsonLines(proc).find((l) => typeof l.msg === 'string' && l.msg.startsWith('shutdown deadline of '));
      expect(said, proc.lines.slice(-20).join('\n')).toBeDefined();
      expect(said?.notClosed).toContain('pipeline');
      expect(String(said?.msg)).toMatch(
        /while closing pipeline: pipeline did not close; exiting 1 .*accepted events stay in Redis/,
      );

      // Redis comes back from its append-only file; a new process delivers everything.
      await redis.restart();
      sim.faults.restore();
      allInOne(redis.url, sim, prefix, { DELIVERY_MODE: 'single' });
      await producer.close();
      const outcome = await faultOutcome({
        redis: connection,
        prefix,
        accepted: counting.accepted,
        events: workload.events,
        landed: () => sim.store.all(),
      });
      expectNothingLost(outcome, `seed ${seed}`);
    },
  );

  it(
    'an active job that outlasts SHUTDOWN_TIMEOUT_MS is handed back: exit 0, and the next process finishes it',
    { timeout: 60_000 },
    async () => {
      // Every call takes 8 s at Target and we wait up to 10 s for it: the delivery outlasts the
      // 1 s the process gets to finish and the 5 s after it before the deadline exits 1, so
      // only a real hand-back (the call dropped, the job back in its queue) exits 0 in time.
      const sim = await startSimulator({ ...NO_ROW_LOSS, clientCode: 'acme', latencyMs: 8000 });
      cleanups.push(() => sim.close());
      const env = {
        SHUTDOWN_TIMEOUT_MS: '1000',
        DELIVERY_MODE: 'single',
        TARGET_TIMEOUT_MS: '10000',
        CLAIM_LEASE_MS: '20000',
      };
      const events = [kioskVisit('hb-1', 'CRM-HANDBACK')];
      const { redis, prefix, first, connection, accepted, job } = await oneDeliveryUnderWay(
        sim,
        'handback',
        env,
        events[0]!,
        'deliverSingle',
      );

      const signalledAt = Date.now();
      first.kill('SIGTERM');
      expect(await exitedWithOutput(first), first.lines.slice(-20).join('\n')).toBe(0);
      // Handed back at SHUTDOWN_TIMEOUT_MS, not held until the deadline (+5 s) exits 1.
      expect(Date.now() - signalledAt).toBeLessThan(1000 + SHUTDOWN_CLOSE_MARGIN_MS);
      expect(first.lines.some((l) => l.includes('active jobs did not finish in time: handing them back'))).toBe(true);
      expect(first.lines.some((l) => l.includes('"msg":"stopped"'))).toBe(true);
      // Its call was dropped on the way (Target may still apply it): the job went back to its
      // queue saying so, without spending an attempt, and the retry will read the visitor back.
      const handedBack = await job();
      expect(['delayed', 'waiting']).toContain(await handedBack?.getState());
      expect(handedBack?.data).toMatchObject({ answerLost: ['3p:CRM-HANDBACK'] });
      expect(handedBack?.attemptsMade).toBe(0);

      // The next process takes the job over and finishes it.
      sim.faults.setLatency(0);
      const second = allInOne(redis.url, sim, prefix, env);
      const outcome = await faultOutcome({
        redis: connection,
        prefix,
        accepted,
        events,
        landed: () => sim.store.all(),
      });
      expectNothingLost(outcome, 'hand-back');
      // The job's log line follows its ack (the store goes idle first) and crosses a pipe: wait for it.
      expect(await second.waitForLine(/"msg":"single delivery"/, 10_000)).toContain('"msg":"single delivery"');
    },
  );

  it(
    'a process killed during a call leaves the job naming the visitor, and the next one reads it back once delivered (P4, P7)',
    { timeout: 60_000 },
    async () => {
      // The call takes 3 s at Target: the process dies while it is on its way, and Target
      // may still apply it after the next process delivered newer values.
      const sim = await startSimulator({ ...NO_ROW_LOSS, clientCode: 'acme' });
      sim.faults.slowVisitor('CRM-KILLED', 3000);
      cleanups.push(() => sim.close());
      const env = {
        DELIVERY_MODE: 'single',
        TARGET_TIMEOUT_MS: '5000',
        CLAIM_LEASE_MS: '10000',
        WORKER_LOCK_MS: '1000',
        LANDING_AUDIT_SAMPLE: '0',
        LANDING_AUDIT_DELAY_MS: '300',
      };
      const { redis, prefix, first, job } = await oneDeliveryUnderWay(
        sim,
        'killed-call',
        env,
        kioskVisit('kc-1', 'CRM-KILLED'),
        'deliverSingle',
      );
      // Killed with the call at Target (it arrived, and takes 3 s to answer).
      expect(await waitFor(() => sim.stats.singleArrived >= 1, 10_000, 10)).toBe(true);
      first.kill('SIGKILL');
      await exitedWithOutput(first);
      expect((await job())?.data).toMatchObject({ answerLost: ['3p:CRM-KILLED'] });

      // The next process runs the job again once its lock lapsed, delivers, and reads the
      // visitor back (no sampling: the read-back is the one the kill asked for).
      sim.faults.slowVisitor('CRM-KILLED', 0);
      allInOne(redis.url, sim, prefix, env);
      expect(await waitFor(() => sim.store.get('thirdPartyId', 'CRM-KILLED') !== undefined, 20_000)).toBe(true);
      expect(await waitFor(() => sim.stats.fetch >= 1, 15_000)).toBe(true);
    },
  );

  it(
    'a bulk submit that outlasts SHUTDOWN_TIMEOUT_MS is handed back without spending an attempt',
    { timeout: 60_000 },
    async () => {
      // The submit takes 8 s at Target: dropped at the 1 s deadline by us, not failed by Target.
      const sim = await startSimulator({ ...NO_ROW_LOSS, clientCode: 'acme' });
      sim.faults.setLatency(8000, 'bulk');
      cleanups.push(() => sim.close());
      const env = {
        SHUTDOWN_TIMEOUT_MS: '1000',
        DELIVERY_MODE: 'bulk',
        TARGET_TIMEOUT_MS: '10000',
        CLAIM_LEASE_MS: '20000',
      };
      const { prefix, first, connection, job } = await oneDeliveryUnderWay(
        sim,
        'handback-bulk',
        env,
        kioskVisit('hbb-1', 'CRM-HANDBACK-BULK'),
        'deliverBulk',
      );
      first.kill('SIGTERM');
      expect(await exitedWithOutput(first), first.lines.slice(-20).join('\n')).toBe(0);
      const handedBack = await job();
      expect(['delayed', 'waiting']).toContain(await handedBack?.getState());
      expect(handedBack?.attemptsMade).toBe(0);
      expect(await connection.llen(`{${prefix}}:dead-letter:wait`)).toBe(0);
    },
  );
});
