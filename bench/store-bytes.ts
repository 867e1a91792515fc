/**
 * Redis bytes of the visitor store, measured key by key with MEMORY USAGE: shared by
 * `bench/measure-store.ts` (a synthetic store) and `npm run bench` (the store a pipeline
 * run left behind).
 */
import type { Redis } from 'ioredis';

/** Every key matching a SCAN pattern, or the first `limit` of them. */
export async function scanKeys(redis: Redis, pattern: string, limit = Infinity): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    out.push(...keys);
  } while (cursor !== '0' && out.length < limit);
  return out.slice(0, limit);
}

/** MEMORY USAGE (exact: SAMPLES 0) of each key, summed. */
export async function memoryOf(redis: Redis, keys: readonly string[]): Promise<number> {
  if (keys.length === 0) return 0;
  const pipeline = redis.pipeline();
  for (const key of keys) pipeline.memory('USAGE', key, 'SAMPLES', '0');
  const replies = (await pipeline.exec()) ?? [];
  return replies.reduce((sum, [, bytes]) => sum + Number(bytes ?? 0), 0);
}

/** Bytes per delivered visitor of the `vd` hashes, with and without the kept values. */
export interface DeliveredBytes {
  /** `vd` hashes in the store (SCAN count, all of them). */
  visitors: number;
  /** Hashes measured (a sample of `visitors`). */
  sampled: number;
  /** Mean fields per sampled hash: stamps (`<name>`) and kept values (`v:<name>`). */
  stampFields: number;
  valueFields: number;
  /** Mean bytes of a kept value (the string only). */
  valueChars: number;
  /** MEMORY USAGE per hash as the pipeline left it (stamps and values). */
  withValues: number;
  /** The same hash rewritten with every field, as a fresh key (so both copies are built alike). */
  withValuesCopy: number;
  /** The same hash rewritten with its stamp fields only: what it cost before values were kept. */
  withoutValues: number;
  /** withValuesCopy − withoutValues: what keeping the values costs per delivered visitor. */
  valueCost: number;
  /** Delivery logs (`<root>:dl:<vk>`, src/lineage/delivery-log.ts) in the store. */
  logVisitors: number;
  /** Mean entries and MEMORY USAGE of a sample of them: the log's cost per delivered visitor. */
  logEntries: number;
  logBytes: number;
}

/**
 * Measures `vd` hashes (`<root>:vd:<vk>`: field `<name>` = delivered stamp, `v:<name>` =
 * delivered value) matching `pattern`: a sample of up to `sample` keys as they stand, then
 * each rebuilt under a temporary key twice — with every field, and with the stamp fields only
 * (the store before values were kept) — each with the original's TTL, measured and deleted.
 * The two rebuilt copies are made the same way, so their difference is the values' cost and
 * not an artefact of how the live hash grew.
 */
export async function measureDeliveredBytes(redis: Redis, pattern = '*:vd:*', sample = 400): Promise<DeliveredBytes> {
  const all = await scanKeys(redis, pattern);
  // An even spread over the keyspace order rather than the first few hundred SCAN returns.
  const step = Math.max(1, Math.floor(all.length / sample));
  const keys = all.filter((_, i) => i % step === 0).slice(0, sample);
  let stampFields = 0;
  let valueFields = 0;
  let valueChars = 0;
  let withCopy = 0;
  let without = 0;
  const live = await memoryOf(redis, keys);
  const temp = `bench-tmp:vd-copy:${process.pid}`;
  for (const key of keys) {
    const [fields, ttl] = await Promise.all([redis.hgetall(key), redis.pttl(key)]);
    const stamps: string[] = [];
    const every: string[] = [];
    for (const [field, value] of Object.entries(fields)) {
      every.push(field, value);
      if (field.startsWith('v:')) {
        valueFields += 1;
        valueChars += Buffer.byteLength(value);
      } else {
        stampFields += 1;
        stamps.push(field, value);
      }
    }
    for (const [copy, add] of [
      [every, (b: number) => (withCopy += b)],
      [stamps, (b: number) => (without += b)],
    ] as const) {
      if (copy.length === 0) continue;
      const write = redis
        .multi()
        .del(temp)
        .hset(temp, ...copy);
      if (ttl > 0) write.pexpire(temp, ttl);
      await write.exec();
      add(await memoryOf(redis, [temp]));
    }
    await redis.del(temp);
  }
  const n = Math.max(keys.length, 1);
  const logs = await scanKeys(redis, pattern.replace(':vd:', ':dl:'));
  const logStep = Math.max(1, Math.floor(logs.length / sample));
  const logSample = logs.filter((_, i) => i % logStep === 0).slice(0, sample);
  const lengths = await Promise.all(logSample.map((key) => redis.llen(key)));
  const m = Math.max(logSample.length, 1);
  return {
    logVisitors: logs.length,
    logEntries: lengths.reduce((a, b) => a + b, 0) / m,
    logBytes: (await memoryOf(redis, logSample)) / m,
    visitors: all.length,
    sampled: keys.length,
    stampFields: stampFields / n,
    valueFields: valueFields / n,
    valueChars: valueFields > 0 ? valueChars / valueFields : 0,
    withValues: live / n,
    withValuesCopy: withCopy / n,
    withoutValues: without / n,
    valueCost: (withCopy - without) / n,
  };
}
