/**
 * Measures the visitor store: Redis bytes per pending visitor and merges per second of the
 * Lua merge path. Run with `npx tsx bench/measure-store.ts`. Uses a private redis-server
 * on a free port (so nothing else skews the memory figures); set REDIS_URL to measure
 * another Redis instead (keys go under a fresh prefix and are deleted afterwards).
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { IntakeMarks } from '../src/coalesce/dedupe.js';
import { VisitorStore } from '../src/coalesce/store.js';
import type { ValidEvent } from '../src/events/index.js';
import { spawnRedis, type SpawnedRedis } from '../test/harness/redis-server.js';
import { parseCommandStats } from './measure.js';
import { measureDeliveredBytes, memoryOf, scanKeys } from './store-bytes.js';

const VISITORS_FOR_MEMORY = 10_000;
const MERGE_BATCH = 500;
const MERGE_BATCHES = Number(process.env.MERGE_BATCHES ?? 200);
const T0 = Date.parse('2026-11-21T10:00:00.000Z');

/** A typical loyalty event: four attributes, a CRM id and a till-style event id. */
function loyaltyEvent(n: number, visitor: number, minute: number): ValidEvent {
  return {
    id: `pos-eu-7-${String(n).padStart(9, '0')}`,
    type: 'loyalty_card_used',
    occurredAtMs: T0 + minute * 60_000,
    visitor: { kind: 'thirdPartyId', id: `CRM-${String(visitor).padStart(8, '0')}` },
    attributes: {
      loyaltyLastUsedAt: new Date(T0 + minute * 60_000).toISOString(),
      loyaltyLastStoreId: `S${visitor % 500}`,
      loyaltyLastPoints: String((visitor * 37) % 5000),
      loyaltyTier: ['bronze', 'silver', 'gold', 'platinum'][visitor % 4] ?? 'gold',
    },
  };
}

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? NaN);
}

function newStore(redis: Redis, prefix: string): VisitorStore {
  return new VisitorStore(redis, {
    prefix,
    coalesceWindowMs: 5000,
    dedupeWindowMs: 7 * 24 * 3600_000,
    deliveredRetentionMs: 30 * 24 * 3600_000,
    leaseMs: 60_000,
  });
}

async function measureMemory(redis: Redis): Promise<void> {
  const prefix = `bench-mem-${randomBytes(3).toString('hex')}`;
  const store = newStore(redis, prefix);
  const before = await usedMemory(redis);
  // One event per visitor, merged in batches as the map worker would.
  for (let start = 0; start < VISITORS_FOR_MEMORY; start += MERGE_BATCH) {
    const batch: ValidEvent[] = [];
    for (let v = start; v < start + MERGE_BATCH; v += 1) batch.push(loyaltyEvent(v, v, 1));
    await store.merge('pos-eu', batch, T0, `job-${start}`);
  }
  const after = await usedMemory(redis);
  const k = store.keys;
  const pending = await memoryOf(redis, await scanKeys(redis, `${k.root}:vp:*`));
  const due = await memoryOf(redis, [k.due]);
  const markers = await memoryOf(redis, await scanKeys(redis, `${k.root}:seen:*`));
  const batches = await memoryOf(redis, await scanKeys(redis, `${k.root}:merged:*`));
  const n = VISITORS_FOR_MEMORY;
  const per = (bytes: number) => (bytes / n).toFixed(0);
  console.log(
    `\nBytes per pending visitor (${n} visitors, one loyalty event each: 4 attributes, CRM id of 12 chars, event id of 19 chars)`,
  );
  console.log(`  pending hash {p}:vp:<vk>           ${per(pending)} B  (MEMORY USAGE)`);
  console.log(`  due index entry (zset share)       ${per(due)} B`);
  console.log(
    `  dedupe markers per event id        ${per(markers)} B  (kept DEDUPE_WINDOW_MS; at this volume: see below for others)`,
  );
  console.log(
    `  merged-batch marker (per visitor)  ${(batches / n).toFixed(1)} B  (one per merge call of about 100 events)`,
  );
  console.log(`  sum of the above                   ${per(pending + due + markers + batches)} B`);
  console.log(
    `  used_memory growth / visitor       ${per(after - before)} B  (INFO memory, includes keyspace overhead)`,
  );

  // After delivery only the delivered stamps stay (DELIVERED_RETENTION_MS).
  const claimId = 'bench-claim';
  let claimed = await store.claimDue(claimId, 1000, T0 + 10_000);
  while (claimed.length > 0) {
    for (const snap of await store.snapshot(claimId, claimed, T0 + 10_000)) await store.ack(claimId, snap, T0 + 10_000);
    claimed = await store.claimDue(claimId, 1000, T0 + 10_000);
  }
  // Each delivered visitor keeps its stamps and (for the v2 override) its delivered values.
  const d = await measureDeliveredBytes(redis, `${k.root}:vd:*`, 500);
  console.log(
    `  after delivery: {p}:vd:<vk> (kept DELIVERED_RETENTION_MS), ${d.sampled} of ${d.visitors} hashes measured:`,
  );
  console.log(
    `    stamps and values  ${d.withValues.toFixed(0)} B per visitor (${d.stampFields.toFixed(1)} stamps, ${d.valueFields.toFixed(1)} values of ${d.valueChars.toFixed(1)} B)`,
  );
  console.log(
    `    stamps only        ${d.withoutValues.toFixed(0)} B per visitor (the same hashes rewritten without their v: fields)`,
  );
  console.log(
    `    values cost        ${d.valueCost.toFixed(0)} B per visitor (both rewritten alike: ${d.withValuesCopy.toFixed(0)} − ${d.withoutValues.toFixed(0)})`,
  );
  for (const key of await scanKeys(redis, `${k.root}*`)) await redis.unlink(key);
}

/**
 * Dedupe markers per event id at several volumes: a marker is a field in one of 8,192
 * bucket hashes per generation, so the cost per id depends on how full the buckets are
 * (up to 128 fields a hash stays a compact listpack, beyond that a hash table).
 */
async function measureMarkers(redis: Redis): Promise<void> {
  console.log('\nDedupe markers per event id, by events in one dedupe window (used_memory growth)');
  for (const events of [10_000, 100_000, 1_000_000, 3_000_000]) {
    const prefix = `bench-marks-${randomBytes(3).toString('hex')}`;
    const marks = new IntakeMarks(redis, prefix, 7 * 24 * 3600_000);
    const before = await usedMemory(redis);
    for (let start = 0; start < events; start += 5000) {
      const refs = Array.from({ length: Math.min(5000, events - start) }, (_, i) => ({
        id: `pos-eu-7-${String(start + i).padStart(9, '0')}`,
        vk: '3p:CRM-1',
      }));
      await marks.markTaken('pos-eu', refs);
    }
    const after = await usedMemory(redis);
    console.log(
      `  ${events.toLocaleString('en-US').padStart(9)} ids    ${((after - before) / events).toFixed(0).padStart(4)} B per id  (event id of 19 chars, source of 6)`,
    );
    for (const key of await scanKeys(redis, `{${prefix}}*`)) await redis.unlink(key);
  }
}

/**
 * Since the last CONFIG RESETSTAT: Redis-side microseconds per EVALSHA, and the commands the
 * scripts ran (every command but EVALSHA itself and the bench's own INFO and CONFIG).
 */
async function serverCost(redis: Redis): Promise<{ usecPerCall: number; commands: number }> {
  const stats = parseCommandStats(await redis.info('commandstats'));
  const evalsha = stats.get('evalsha');
  let commands = 0;
  for (const [name, s] of stats) if (!['evalsha', 'info', 'config'].includes(name)) commands += s.calls;
  return { usecPerCall: evalsha ? evalsha.usec / evalsha.calls : NaN, commands };
}

async function measureMerges(redis: Redis, ownServer: boolean): Promise<void> {
  const prefix = `bench-merge-${randomBytes(3).toString('hex')}`;
  const store = newStore(redis, prefix);
  const visitors = 20_000;
  const batches: ValidEvent[][] = [];
  let n = 0;
  for (let b = 0; b < MERGE_BATCHES; b += 1) {
    const batch: ValidEvent[] = [];
    for (let i = 0; i < MERGE_BATCH; i += 1, n += 1) batch.push(loyaltyEvent(n, (n * 7919) % visitors, n % 600));
    batches.push(batch);
  }
  const rounds = [
    ['one call at a time', 1],
    ['4 calls in parallel', 4],
  ] as const;
  // `--one-round`: the first only (the same work each time, for an instruction count).
  for (const [label, parallel] of process.argv.includes('--one-round') ? rounds.slice(0, 1) : rounds) {
    // As in the pipeline, intake marks the ids of each job first (not timed), and the map
    // merges the job under its id: the merge then finds intake's own markers.
    const marks = new IntakeMarks(redis, prefix, 7 * 24 * 3600_000);
    const jobs: number[] = [];
    for (const batch of batches) {
      jobs.push(
        (
          await marks.claim(
            'pos-eu',
            batch.map((e) => e.id),
            MERGE_BATCH,
            T0,
          )
        ).firstJob,
      );
    }
    if (ownServer) await redis.config('RESETSTAT');
    const started = process.hrtime.bigint();
    let next = 0;
    await Promise.all(
      Array.from({ length: parallel }, async () => {
        while (next < batches.length) {
          const b = next;
          next += 1;
          await store.merge('pos-eu', batches[b] ?? [], T0, `intake-${jobs[b] ?? 0}@${T0}`);
        }
      }),
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const events = MERGE_BATCH * MERGE_BATCHES;
    const cost = ownServer ? await serverCost(redis) : undefined;
    const server = cost
      ? `, Redis busy ${(cost.usecPerCall / 1000).toFixed(1)} ms per batch, ${(cost.commands / events).toFixed(2)} commands per event`
      : '';
    console.log(
      `  ${label.padEnd(20)} ${(events / seconds).toFixed(0).padStart(7)} events/s  (${(MERGE_BATCHES / seconds).toFixed(0)} batches of ${MERGE_BATCH}/s${server})`,
    );
    // The second round merges the same ids again: those are duplicates, a cheaper path; start
    // clean. With `--one-round` there is none, and the server's work ends with the merges (its
    // keys stay: meant for a redis-server of its own, as under valgrind).
    if (rounds.length > 1 && !process.argv.includes('--one-round'))
      for (const key of await scanKeys(redis, `${store.keys.root}*`)) await redis.unlink(key);
  }
}

async function main(): Promise<void> {
  let spawned: SpawnedRedis | undefined;
  const url = process.env.REDIS_URL ?? (spawned = await spawnRedis()).url;
  const redis = new Redis(url, { maxRetriesPerRequest: null });
  try {
    const server = await redis.info('server');
    console.log(
      `Redis ${/redis_version:(\S+)/.exec(server)?.[1] ?? '?'} at ${url}${spawned ? ' (private, started for this run)' : ''}`,
    );
    // `--merges`: only the merge throughput (a quick loop while changing merge-events.lua).
    if (!process.argv.includes('--merges')) {
      await measureMemory(redis);
      await measureMarkers(redis);
    }
    console.log(
      `\nMerges of the Lua path (${MERGE_BATCHES} intake jobs of ${MERGE_BATCH} events, 4 attributes each, over 20,000 visitors)`,
    );
    await measureMerges(redis, spawned !== undefined);
  } finally {
    await redis.quit();
    await spawned?.stop();
  }
}

await main();
