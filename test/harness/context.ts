import { randomBytes } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import type { RedisClient } from '../../src/redis/connection.js';
import { inject } from 'vitest';

/** The Redis URL the global setup chose for this run. */
export function redisUrl(): string {
  return inject('redisUrl');
}

/** A key prefix no other test uses, so tests never see each other's keys or queues. */
export function uniquePrefix(label = 't'): string {
  return `${label}-${randomBytes(4).toString('hex')}`;
}

/** A fresh connection suitable for BullMQ workers (maxRetriesPerRequest null). */
export function newRedis(url = redisUrl()): Redis {
  return new Redis(url, { maxRetriesPerRequest: null });
}

/** The nodes to scan: the client itself, or every master of a cluster. */
export function scanNodes(redis: RedisClient): Redis[] {
  return redis instanceof Cluster ? redis.nodes('master') : [redis];
}

/** Every key matching `pattern`, on every master of a cluster. */
export async function scanKeys(redis: RedisClient, pattern: string): Promise<string[]> {
  const out: string[] = [];
  for (const node of scanNodes(redis)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      out.push(...keys);
    } while (cursor !== '0');
  }
  return out;
}

/** Deletes every key under a prefix; call it in afterEach/afterAll. */
export async function deletePrefix(redis: RedisClient, prefix: string): Promise<void> {
  for (const node of scanNodes(redis)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `*${prefix}*`, 'COUNT', 1000);
      cursor = next;
      // One key per command: a cluster node refuses multi-key commands across slots.
      if (keys.length > 0) {
        const pipeline = node.pipeline();
        for (const key of keys) pipeline.unlink(key);
        await pipeline.exec();
      }
    } while (cursor !== '0');
  }
}
