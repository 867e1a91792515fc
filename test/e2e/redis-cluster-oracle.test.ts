import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shardTag } from '../../src/redis/shards.js';
import { VisitorStore } from '../../src/coalesce/store.js';
import { resolveMapping, validateEvent, type ValidEvent } from '../../src/events/index.js';
import { connectRedis } from '../../src/redis/connection.js';
import { resetCommandStats, nodeOfKey, scriptCallsPerNode } from '../harness/cluster-stats.js';
import { deletePrefix, uniquePrefix } from '../harness/context.js';
import { runOracleWorkload, expectOracleHolds } from '../harness/oracle-run.js';
import { clusterUnavailableReason, startRedisCluster, type SpawnedCluster } from '../harness/redis-cluster.js';
import { buildWorkload, seedFromEnv } from '../harness/workload.js';

const SHARDS = 3;
const unavailable = clusterUnavailableReason();
if (unavailable !== undefined) console.warn(`skipping the Redis Cluster tests: ${unavailable}`);

// The pipeline on a real 3-master Redis Cluster (docs/operations.md, "Redis Cluster"), its store split into 3 shards.
describe.skipIf(unavailable !== undefined)('on a 3-master Redis Cluster with REDIS_SHARDS=3', () => {
  let cluster: SpawnedCluster;
  beforeAll(async () => {
    cluster = await startRedisCluster(3);
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('puts each shard on its own master and spreads the merge calls over all three', async () => {
    const prefix = uniquePrefix('spread');
    const owners = await Promise.all(
      Array.from({ length: SHARDS }, (_, k) => nodeOfKey(cluster, `{${shardTag(prefix, k, SHARDS)}}:due`)),
    );
    expect(new Set(owners).size, `shard owners ${owners.join(', ')}`).toBe(SHARDS);

    const redis = connectRedis({ REDIS_URL: cluster.seeds, REDIS_CLUSTER: true });
    try {
      const store = new VisitorStore(redis, {
        prefix,
        coalesceWindowMs: 100,
        dedupeWindowMs: 60_000,
        deliveredRetentionMs: 60_000,
        leaseMs: 2000,
        shards: SHARDS,
      });
      const workload = buildWorkload({ seed: seedFromEnv(), events: 3000, visitors: 250, batchSize: 100 });
      const mapping = resolveMapping();
      const now = Date.now();
      await resetCommandStats(cluster);
      let batches = 0;
      for (const group of workload.groups) {
        for (const batch of group) {
          const valid = batch.flatMap((raw) => {
            const checked = validateEvent(raw, mapping, { now, maxValueLength: 256 });
            return checked.ok ? [checked.event] : [];
          }) satisfies ValidEvent[];
          await store.merge('pos', valid, now, `b${batches}`);
          batches += 1;
        }
      }
      const calls = await scriptCallsPerNode(cluster);
      const total = calls.reduce((a, b) => a + b, 0);
      const shares = calls.map((c) => Math.round((c / total) * 1000) / 10);
      console.log(
        `merge calls per master (evalsha+eval, ${batches} batches of about 100 events): ${calls.map((c, i) => `port ${cluster.nodes[i]?.port}: ${c} (${shares[i]}%)`).join(', ')}`,
      );
      for (const c of calls) {
        expect(c).toBeGreaterThan(0);
        expect(c / total).toBeLessThanOrEqual(0.6);
      }
      const perShard = await Promise.all(
        store.shards.map(async (keys) =>
          Object.values(await redis.hgetall(keys.stats)).reduce((a, b) => a + Number(b), 0),
        ),
      );
      console.log(`events merged per shard: ${perShard.join(', ')}`);
      // The work, not only the calls: each master merges a fair part of the events.
      const merged = perShard.reduce((a, b) => a + b, 0);
      for (const n of perShard) {
        expect(n / merged).toBeGreaterThan(0.2);
        expect(n / merged).toBeLessThanOrEqual(0.6);
      }
      const stats = await store.stats();
      expect(
        (stats.events_applied ?? 0) +
          (stats.events_superseded ?? 0) +
          (stats.events_late_dropped ?? 0) +
          (stats.events_duplicate ?? 0),
      ).toBe(workload.events.length + workload.resends);
    } finally {
      await deletePrefix(redis, prefix);
      await redis.quit();
    }
  }, 30_000);

  it('ends with the profiles of the oracle with 3 worker processes, losing nothing', async () => {
    const seed = seedFromEnv();
    const workload = buildWorkload({ seed, events: 3000, visitors: 250, batchSize: 100 });
    const result = await runOracleWorkload({
      workload,
      processes: 3,
      paceMs: 150,
      shards: SHARDS,
      redis: { url: cluster.seeds, cluster: true },
      beforeProducing: () => resetCommandStats(cluster),
    });
    const calls = await scriptCallsPerNode(cluster);
    console.log(
      `cluster oracle run, script calls per master (all scripts, BullMQ's included): ${calls.map((c, i) => `port ${cluster.nodes[i]?.port}: ${c}`).join(', ')}`,
    );
    const context = `seed ${seed}: ${JSON.stringify({ ...result, differences: result.differences.length, overtaking: result.overtaking.length })}`;
    console.log(`cluster oracle run: ${context}`);

    expectOracleHolds(result, workload.resends, context);
    // Longer than the run's drain timeout (60 s), so a stuck run fails with its figures.
  }, 120_000);
});
