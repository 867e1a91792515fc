import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VisitorStore } from '../../../src/coalesce/store.js';
import type { ValidEvent } from '../../../src/events/index.js';
import { deletePrefix, newRedis, uniquePrefix } from '../../harness/context.js';
import { seededRandom } from '../../harness/seeded-random.js';

const T0 = Date.parse('2026-11-21T10:00:00.000Z');
const VISITORS = ['3p:A', '3p:B', '3p:C', 'pc:D'];
const ATTRIBUTES = ['tier', 'store', 'points'];
const STEPS = 400;
const SEEDS = [1, 2, 3, 4];

/** Is stamp a later than stamp b: event time first, then the event id (as newer.lua orders them). */
function newer(a: string, b: string): boolean {
  const ta = Number(a.slice(0, 15));
  const tb = Number(b.slice(0, 15));
  if (ta !== tb) return ta > tb;
  return Buffer.compare(Buffer.from(a.slice(16)), Buffer.from(b.slice(16))) > 0;
}

/**
 * Random sequences of every script that moves a visitor's values (merge, claim, snapshot with
 * and without freezing, ack, release, unclaim, a move to another claim, resend, restore,
 * forget), checked after each step against what the store promises and the merge relies on:
 * - a visitor with values pending is due or in flight (the merge makes a visitor due only at
 *   its first pending change: src/coalesce/lua/merge-events.lua);
 * - a pending stamp is newer than the in-flight stamp of its attribute (so the merge decides
 *   by the pending stamps alone when every attribute is pending);
 * and, at the end, every pending value is delivered once the flusher claims what is due.
 */
describe('the visitor store under random sequences of its scripts', () => {
  let redis: Redis;

  beforeAll(() => {
    redis = newRedis();
  });
  afterAll(async () => {
    await redis.quit();
  });

  for (const seed of SEEDS) {
    it(`keeps pending visitors due or in flight, pending stamps newest, and delivers everything (seed ${seed})`, async () => {
      const random = seededRandom(seed);
      const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
      const prefix = uniquePrefix('invariants');
      const store = new VisitorStore(redis, {
        prefix,
        coalesceWindowMs: 1000,
        dedupeWindowMs: 3_600_000,
        deliveredRetentionMs: 3_600_000,
        leaseMs: 600_000,
      });
      const keys = store.keys;
      const claims = new Map<string, Set<string>>();
      let now = T0;
      let events = 0;
      let claimCount = 0;
      const log: string[] = [];

      const check = async (): Promise<void> => {
        for (const vk of VISITORS) {
          const [pending, flight, due] = await Promise.all([
            redis.hgetall(keys.pending(vk)),
            redis.hgetall(keys.inFlight(vk)),
            redis.zscore(keys.due, vk),
          ]);
          const hasPending = Object.keys(pending).some((f) => f.startsWith('s:'));
          const inFlight = Object.keys(flight).length > 0;
          if (hasPending && due === null && !inFlight)
            throw new Error(
              `${vk} has values pending but is neither due nor in flight after: ${log.slice(-6).join('; ')}`,
            );
          for (const [field, st] of Object.entries(pending)) {
            const held = field.startsWith('s:') ? flight[field] : undefined;
            if (held !== undefined && !newer(st, held))
              throw new Error(
                `${vk} ${field}: pending ${st} not newer than in flight ${held} after: ${log.slice(-6).join('; ')}`,
              );
          }
        }
      };
      const liveClaim = (): [string, string] | undefined => {
        const live = [...claims].filter(([, vks]) => vks.size > 0);
        if (live.length === 0) return undefined;
        const [claimId, vks] = pick(live);
        return [claimId, pick([...vks])];
      };

      try {
        for (let step = 0; step < STEPS; step += 1) {
          now += Math.floor(random() * 1500);
          const op = random();
          if (op < 0.35) {
            const batch: ValidEvent[] = [];
            for (let k = 1 + Math.floor(random() * 4); k > 0; k -= 1) {
              const vk = pick(VISITORS);
              const names = ATTRIBUTES.filter(() => random() < 0.6);
              events += 1;
              batch.push({
                id: `e${events}`,
                type: 't',
                // Out of order: some events are older than values already pending or delivered.
                occurredAtMs: T0 + Math.floor(random() * 60) * 60_000,
                visitor: vk.startsWith('pc:')
                  ? { kind: 'pcId', id: vk.slice(3) }
                  : { kind: 'thirdPartyId', id: vk.slice(3) },
                attributes: Object.fromEntries((names.length > 0 ? names : ['tier']).map((n) => [n, `${n}-${events}`])),
              });
            }
            await store.merge('pos', batch, now, `job-${events}`);
            log.push(`merge ${batch.map((e) => e.id).join(',')}`);
          } else if (op < 0.5) {
            claimCount += 1;
            const claimId = `c${claimCount}`;
            const got = await store.claimDue(claimId, 1 + Math.floor(random() * 3), now);
            claims.set(claimId, new Set(got));
            log.push(`claim ${claimId} ${got.join(',')}`);
          } else if (op < 0.6) {
            const live = liveClaim();
            if (live === undefined) continue;
            await store.snapshot(live[0], [live[1]], now, { freeze: random() < 0.5 });
            log.push(`snapshot ${live.join(' ')}`);
          } else if (op < 0.78) {
            const live = liveClaim();
            if (live === undefined) continue;
            const [claimId, vk] = live;
            const [snapshot] = await store.snapshot(claimId, [vk], now);
            if (snapshot === undefined) {
              claims.get(claimId)?.delete(vk);
              continue;
            }
            const outcome = await store.ack(claimId, snapshot, now);
            if (outcome !== 'more') claims.get(claimId)?.delete(vk);
            log.push(`ack ${claimId} ${vk}: ${outcome}`);
          } else if (op < 0.83) {
            const live = liveClaim();
            if (live === undefined) continue;
            await store.release(live[0], [live[1]], now);
            claims.get(live[0])?.delete(live[1]);
            log.push(`release ${live.join(' ')}`);
          } else if (op < 0.88) {
            const live = liveClaim();
            if (live === undefined) continue;
            await store.unclaim(live[0], [live[1]], now + Math.floor(random() * 3000));
            claims.get(live[0])?.delete(live[1]);
            log.push(`unclaim ${live.join(' ')}`);
          } else if (op < 0.92) {
            const live = liveClaim();
            if (live === undefined) continue;
            claimCount += 1;
            const moved = await store.moveClaim(live[0], `c${claimCount}`, [live[1]], now, { thaw: random() < 0.5 });
            claims.get(live[0])?.delete(live[1]);
            claims.set(`c${claimCount}`, new Set(moved));
            log.push(`move ${live.join(' ')} to c${claimCount}`);
          } else if (op < 0.96) {
            const vk = pick(VISITORS);
            await store.resendDelivered(
              vk,
              ATTRIBUTES.filter(() => random() < 0.5),
              { maxResends: 100 },
              now,
            );
            log.push(`resend ${vk}`);
          } else if (op < 0.99) {
            const vk = pick(VISITORS);
            const minute = Math.floor(random() * 60);
            await store.restore(
              vk,
              {
                points: {
                  value: `restored-${step}`,
                  stamp: `${String(T0 + minute * 60_000).padStart(15, '0')}|r${step}`,
                },
              },
              now,
            );
            log.push(`restore ${vk}`);
          } else {
            const vk = pick(VISITORS);
            await store.forget(vk, now + 1, now);
            for (const vks of claims.values()) vks.delete(vk);
            log.push(`forget ${vk}`);
          }
          await check();
        }

        // The flusher's view from here on: claim whatever is due and deliver it, until nothing is
        // pending. A pending visitor neither due nor in flight would never leave.
        for (const [claimId, vks] of claims)
          for (const vk of vks) {
            const [snapshot] = await store.snapshot(claimId, [vk], now);
            if (snapshot !== undefined) await store.ack(claimId, snapshot, now);
          }
        for (let round = 0; round < 20; round += 1) {
          now += 5000;
          claimCount += 1;
          const claimId = `c${claimCount}`;
          const got = await store.claimDue(claimId, 100, now);
          for (const vk of got) {
            for (let more = 0; more < 5; more += 1) {
              const [snapshot] = await store.snapshot(claimId, [vk], now);
              if (snapshot === undefined || (await store.ack(claimId, snapshot, now)) !== 'more') break;
            }
          }
          await check();
        }
        const left = await Promise.all(VISITORS.map((vk) => redis.exists(keys.pending(vk), keys.inFlight(vk))));
        expect(left).toEqual(VISITORS.map(() => 0));
      } finally {
        await deletePrefix(redis, prefix);
      }
    });
  }
});
