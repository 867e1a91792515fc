import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IntakeMarks } from '../../../src/coalesce/dedupe.js';
import { markerBucket } from '../../../src/coalesce/markers.js';
import { VisitorStore } from '../../../src/coalesce/store.js';
import type { ValidEvent } from '../../../src/events/index.js';
import { parseCommandStats } from '../../../bench/measure.js';
import { spawnRedis, type SpawnedRedis } from '../../harness/redis-server.js';

const WINDOW_MS = 3_600_000;
const PREFIX = 'cost';

/**
 * Commands Redis runs inside the dedupe and merge scripts, counted by INFO commandstats of a
 * redis-server of this test's own (nothing else runs on it). Each `redis.call` costs Redis a
 * few µs whatever it does, so these counts are the scripts' cost per event (issue 19).
 */
describe('commands the dedupe and merge scripts run per event', () => {
  let server: SpawnedRedis;
  let redis: Redis;

  beforeAll(async () => {
    server = await spawnRedis();
    redis = new Redis(server.url, { maxRetriesPerRequest: null });
  });
  afterAll(async () => {
    await redis.quit();
    await server.stop();
  });

  async function commandsOf(run: () => Promise<unknown>): Promise<Map<string, number>> {
    await redis.config('RESETSTAT');
    await run();
    const stats = parseCommandStats(await redis.info('commandstats'));
    return new Map([...stats].map(([name, s]) => [name, s.calls]));
  }

  it('sets a marker hash’s expiry once per generation, and merges intake’s job with one marker lookup per event', async () => {
    const marks = new IntakeMarks(redis, PREFIX, WINDOW_MS);
    const store = new VisitorStore(redis, {
      prefix: PREFIX,
      coalesceWindowMs: 1000,
      dedupeWindowMs: WINDOW_MS,
      deliveredRetentionMs: WINDOW_MS,
      leaseMs: 30_000,
    });
    const now = Date.now();
    const ids = Array.from({ length: 500 }, (_, i) => `first-${i}`);
    const first = await commandsOf(() => marks.claim('pos', ids, 500, now));
    const buckets = new Set(ids.map((id) => markerBucket('pos', id)));
    // One lookup of the previous generation and one HSETNX per id; one expiry per new hash.
    expect(first.get('hget')).toBe(500);
    expect(first.get('hsetnx')).toBe(500);
    expect(first.get('pexpire')).toBe(buckets.size + 1); // and the registry's
    expect(first.get('hdel')).toBeUndefined();

    // 500 more ids, all in buckets whose hashes have their expiry already: none is set again.
    const more: string[] = [];
    for (let i = 0; more.length < 500; i += 1) {
      if (buckets.has(markerBucket('pos', `more-${i}`))) more.push(`more-${i}`);
    }
    const second = await commandsOf(() => marks.claim('pos', more, 500, now));
    expect(second.get('hsetnx')).toBe(500);
    expect(second.get('pexpire')).toBeUndefined();

    // The map merges the first job: its ids still carry the job's own marker, so the previous
    // generation is not read again (one HGET per event, where there were two).
    const { firstJob } = await marks.claim('pos', ['third'], 500, now);
    expect(firstJob).toBeGreaterThan(0);
    const events: ValidEvent[] = ids.map((id, i) => ({
      id,
      type: 'test',
      occurredAtMs: now - 1000,
      visitor: { kind: 'thirdPartyId', id: `CRM-${i % 50}` },
      attributes: { tier: `t${i}` },
    }));
    // Job numbers are drawn in order: the first claim's job is the third's minus two.
    const merge = await commandsOf(() => store.merge('pos', events, now, `intake-${firstJob - 2}@${now}`, now));
    expect(merge.get('hget')).toBe(500);
    // A batch that is not intake's own (a replayed dead letter, several shards) looks up
    // both generations, and the next one (where intake may have taken the id in since).
    const other = events.map((e) => ({ ...e, id: `${e.id}-replayed` }));
    const replayed = await commandsOf(() => store.merge('pos', other, now, `dlq-1@${now}`, now));
    expect(replayed.get('hget')).toBe(1500);

    // The 50 visitors delivered in one bulk batch: acked by one script call per 100 visitors
    // (a call, a suppression check and a lease ZREM for all of them, not for each).
    const claimed = await store.claimDue('c1', 1000, now + 2000);
    expect(claimed).toHaveLength(50);
    const snapshots = await store.snapshot('c1', claimed, now + 2000, { freeze: true });
    const ack = await commandsOf(async () => {
      expect(new Set(await store.ackMany('c1', snapshots, now + 3000, true))).toEqual(new Set(['done']));
    });
    // EVAL the first time a connection runs the script (ioredis loads it), EVALSHA after.
    expect((ack.get('evalsha') ?? 0) + (ack.get('eval') ?? 0)).toBe(1);
    expect(ack.get('zrem')).toBe(1);
    expect(ack.get('hgetall')).toBe(50);
    expect(await store.inFlightVisitors()).toBe(0);
  });
});
