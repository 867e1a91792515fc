import { describe, expect, it } from 'vitest';
import { flowKeys } from '../../../src/console/flow-counter.js';
import { Metrics } from '../../../src/metrics/metrics.js';
import { watchPipeline } from '../../../src/metrics/pipeline-events.js';
import { shardOf } from '../../../src/redis/shards.js';
import { deletePrefix, newRedis } from '../../harness/context.js';
import { startTestPipeline, waitFor } from '../../harness/pipeline.js';

const EVENTS = 40;

async function mapCount(metrics: Metrics, outcome: string): Promise<number> {
  return (await metrics.mapEvents.get()).values
    .filter((v) => v.labels.outcome === outcome)
    .reduce((n, v) => n + v.value, 0);
}

describe('map counts when a merge fails part way', () => {
  it('counts the events a failed attempt merged: its retry reports them as replayed, so the totals stay whole', async () => {
    // Two shards: a batch's merge is one script call per shard, and one of them fails.
    const running = await startTestPipeline({ REDIS_SHARDS: '2' }, ['map']);
    const { pipeline, prefix } = running;
    const redis = newRedis();
    const metrics = new Metrics({ defaultMetrics: false });
    const stopWatching = watchPipeline(metrics, pipeline);
    let closed = false;
    try {
      const events = Array.from({ length: EVENTS }, (_, i) => ({
        id: `k-${i}`,
        type: 'kiosk_visit',
        occurredAt: '2026-11-21T10:00:00Z',
        visitor: { mbox3rdPartyId: `CRM-${i}` },
        data: { kioskId: `K${i}` },
      }));
      const inShard1 = events.filter((e) => shardOf(`3p:${e.visitor.mbox3rdPartyId}`, 2) === 1).length;
      expect(inShard1).toBeGreaterThan(0);
      expect(inShard1).toBeLessThan(EVENTS);
      // Shard 0's call fails before it writes anything: the list of forgotten visitors it
      // reads first (src/coalesce/lua/includes/suppressed.lua) is not a sorted set.
      const broken = `${pipeline.store.shards[0]?.root ?? ''}:suppressed`;
      await pipeline.redis.set(broken, 'not a sorted set');
      const failures: Error[] = [];
      pipeline.workers.get('ingest')?.on('failed', (_job, error) => failures.push(error));

      await pipeline.queues.ingest.add('events', { source: 'kiosk', receivedAt: Date.now(), events });
      expect(await waitFor(() => failures.length > 0, 10_000)).toBe(true);
      expect(failures[0]?.message).toMatch(/WRONGTYPE/);
      // Shard 1's events were merged by the failed attempt, and counted by it.
      expect(await mapCount(metrics, 'applied')).toBe(inShard1);

      // A second attempt fails too: shard 1's calls find their parts merged (replayed), which
      // the first attempt counted already.
      expect(await waitFor(() => failures.length > 1, 10_000)).toBe(true);
      expect(await mapCount(metrics, 'applied')).toBe(inShard1);
      expect(await mapCount(metrics, 'replayed')).toBe(0);

      await pipeline.redis.del(broken);
      expect(await waitFor(async () => (await pipeline.queues.ingest.getCompletedCount()) === 1, 20_000)).toBe(true);
      expect(await mapCount(metrics, 'applied')).toBe(EVENTS);
      expect(await mapCount(metrics, 'replayed')).toBe(inShard1);
      expect(await mapCount(metrics, 'duplicate')).toBe(0);

      await running.close();
      closed = true;
      // The console's flow count, written when the pipeline closes.
      expect(Number(await redis.hget(flowKeys(prefix).totals, 'merged'))).toBe(EVENTS);
    } finally {
      stopWatching();
      if (!closed) await running.close();
      await deletePrefix(redis, prefix);
      await redis.quit();
    }
  });
});

describe('an ingest job that fails for good', () => {
  it('keeps no event of a forgotten visitor in the failed set (a forget that ran while it retried did not read it)', async () => {
    const running = await startTestPipeline({}, ['map']);
    const { pipeline, prefix } = running;
    const redis = newRedis();
    try {
      await pipeline.store.forget('3p:CRM-GONE', Date.now() + 60_000);
      // Every merge of the job fails: the due index is not a sorted set.
      await pipeline.redis.set(pipeline.store.keys.due, 'not a sorted set');
      const visit = (visitor: string, n: number) => ({
        id: `k-${n}`,
        type: 'kiosk_visit',
        occurredAt: '2026-11-21T10:00:00Z',
        visitor: { mbox3rdPartyId: visitor },
        data: { kioskId: `K${n}` },
      });
      const job = await pipeline.queues.ingest.add(
        'events',
        { source: 'kiosk', receivedAt: Date.now(), events: [visit('CRM-GONE', 1), visit('CRM-KEEP', 2)] },
        { attempts: 1 },
      );
      const stripped = async () =>
        JSON.stringify((await pipeline.queues.ingest.getJob(String(job.id)))?.data ?? {}).includes('CRM-GONE') ===
        false;
      expect(await waitFor(async () => (await pipeline.queues.ingest.getFailedCount()) === 1, 10_000)).toBe(true);
      expect(await waitFor(stripped, 10_000)).toBe(true);
      expect((await pipeline.queues.ingest.getJob(String(job.id)))?.data.events).toEqual([visit('CRM-KEEP', 2)]);
      // Its dead letter leaves the visitor out too (src/dlq/writer.ts).
      expect(await waitFor(async () => (await pipeline.queues.deadLetter.count()) === 1, 10_000)).toBe(true);
      const [letter] = await pipeline.queues.deadLetter.getJobs(['waiting'], 0, 0);
      expect(JSON.stringify(letter?.data)).not.toContain('CRM-GONE');
      await pipeline.redis.del(pipeline.store.keys.due);
    } finally {
      await running.close();
      await deletePrefix(redis, prefix);
      await redis.quit();
    }
  });
});
