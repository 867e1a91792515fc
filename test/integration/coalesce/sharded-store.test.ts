import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { IntakeMarks } from '../../../src/coalesce/dedupe.js';
import { shardOf } from '../../../src/redis/shards.js';
import { VisitorStore } from '../../../src/coalesce/store.js';
import type { ValidEvent } from '../../../src/events/index.js';
import { deletePrefix, newRedis, scanKeys, uniquePrefix } from '../../harness/context.js';
import { countScriptCalls } from '../../harness/script-calls.js';
import { RENEW_LEASE } from '../../../src/coalesce/lua.js';

const T0 = Date.parse('2026-11-21T10:00:00.000Z');
const SHARDS = 3;

function event(id: string, visitor: string, attributes: Record<string, string>): ValidEvent {
  return { id, type: 'test', occurredAtMs: T0, visitor: { kind: 'thirdPartyId', id: visitor }, attributes };
}

/** Visitor ids whose visitor keys fall in shards 0, 1 and 2. */
function visitorPerShard(): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < SHARDS; i += 1) if (shardOf(`3p:V-${i}`, SHARDS) === out.length) out.push(`V-${i}`);
  return out;
}

describe('VisitorStore with REDIS_SHARDS=3 (one Redis)', () => {
  let redis: Redis;
  let prefix: string;
  let store: VisitorStore;
  beforeAll(() => {
    redis = newRedis();
  });
  afterAll(async () => {
    await redis.quit();
  });
  beforeEach(() => {
    prefix = uniquePrefix('shard');
    store = new VisitorStore(redis, {
      prefix,
      coalesceWindowMs: 1000,
      dedupeWindowMs: 60_000,
      deliveredRetentionMs: 60_000,
      leaseMs: 5000,
      shards: SHARDS,
    });
  });
  afterEach(async () => {
    await deletePrefix(redis, prefix);
  });

  it("keeps each visitor, its markers and its due entry under its shard's tag; a replayed batch changes nothing", async () => {
    const visitors = visitorPerShard();
    const batch = [
      ...visitors.map((v, i) => event(`e${i}`, v, { tier: `t${i}` })),
      event('e0', visitors[0] ?? '', { tier: 'again' }),
    ];
    expect(await store.merge('pos', batch, T0, 'job-1@1')).toEqual(['applied', 'applied', 'applied', 'duplicate']);
    // The same job run again (a crash after the merge): every shard's part is remembered.
    expect(await store.merge('pos', batch, T0, 'job-1@1')).toEqual(['replayed', 'replayed', 'replayed', 'replayed']);
    expect(await store.stats()).toEqual({ events_applied: 3, events_duplicate: 1, events_replayed: 4 });
    for (let k = 0; k < SHARDS; k += 1) {
      const root = store.shards[k]?.root ?? '';
      const keys = (await scanKeys(redis, `${root}:*`)).map((key) => key.slice(root.length + 1).split(':')[0]).sort();
      expect(keys).toEqual(['due', 'merged', 'seen', 'stats', 'vp']);
    }
    // Intake looks markers up at its own time: here the merge's (markers go by time generation).
    const marks = new IntakeMarks(redis, prefix, 60_000, SHARDS);
    expect(
      await marks.alreadySeen(
        'pos',
        [
          { id: 'e1', vk: `3p:${visitors[1] ?? ''}` },
          { id: 'e9', vk: `3p:${visitors[2] ?? ''}` },
        ],
        T0 + 1000,
      ),
    ).toEqual([true, false]);
  });

  it('claims, snapshots, acks and releases across shards', async () => {
    const visitors = visitorPerShard();
    await store.merge(
      'pos',
      visitors.map((v, i) => event(`e${i}`, v, { tier: `t${i}` })),
      T0,
    );
    expect(await store.dueCount(T0 + 1000)).toBe(3);
    const claimed = (await Promise.all([0, 1, 2].map((k) => store.claimDue('c1', 10, T0 + 1000, k)))).flat();
    expect(claimed.sort()).toEqual(visitors.map((v) => `3p:${v}`).sort());
    expect(await store.inFlightVisitors()).toBe(3);
    const snapshots = await store.snapshot('c1', claimed, T0 + 1000);
    expect(snapshots.map((s) => s.vk)).toEqual(claimed);
    expect(await store.knownVisitors(claimed)).toEqual([false, false, false]);
    const [first, ...rest] = snapshots;
    expect(await store.ack('c1', first ?? { vk: '', attributes: new Map() }, T0 + 2000)).toBe('done');
    expect(
      await store.release(
        'c1',
        rest.map((s) => s.vk),
        T0 + 2000,
      ),
    ).toBe(2);
    expect(await store.knownVisitors(claimed)).toEqual(claimed.map((vk) => vk === first?.vk));
    expect(await store.inFlightVisitors()).toBe(0);
    expect(await store.pendingVisitors()).toBe(0);
  });

  it('moves a claim with one script call per shard, however many visitors each holds', async () => {
    const vks = Array.from({ length: 30 }, (_, k) => `3p:M-${k}`);
    await store.merge(
      'pos',
      vks.map((vk, k) => event(`e${k}`, vk.slice(3), { tier: `t${k}` })),
      T0,
    );
    const claimed = (await Promise.all([0, 1, 2].map((k) => store.claimDue('old', 100, T0 + 1000, k)))).flat();
    expect(claimed.sort()).toEqual([...vks].sort());
    // Each shard's script is loaded (a first EVALSHA may miss and be sent again as EVAL).
    expect(await store.moveClaim('nobody', 'nobody', vks, T0 + 1000)).toEqual([]);
    let moved: string[] = [];
    const calls = await countScriptCalls(
      redis,
      RENEW_LEASE,
      store.shards.map((keys) => keys.root),
      async () => {
        moved = await store.moveClaim('old', 'new', vks, T0 + 2000);
      },
    );
    expect(calls).toEqual([1, 1, 1]);
    expect(moved).toEqual(vks);
    expect((await store.snapshot('new', vks, T0 + 2000)).map((s) => s.vk)).toEqual(vks);
  });
});
