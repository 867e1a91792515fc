import type { RedisClient } from '../redis/connection.js';
import { hashTag } from '../redis/keys.js';

/**
 * Dead letters removed by the retention trim (DEAD_LETTER_MAX_COUNT, DEAD_LETTER_MAX_AGE_MS),
 * counted in Redis by every process. A key of its own: the store's stats hash holds merge
 * outcomes only, and `ti_store_events` labels every field of it as an outcome.
 */
export function deadLetterStatsKey(redisPrefix: string): string {
  return `${hashTag(redisPrefix)}:dead-letter-stats`;
}

export async function countTrimmed(redis: RedisClient, redisPrefix: string, removed: number): Promise<void> {
  if (removed > 0) await redis.hincrby(deadLetterStatsKey(redisPrefix), 'trimmed', removed);
}

export async function readTrimmed(redis: RedisClient, redisPrefix: string): Promise<number> {
  return Number((await redis.hget(deadLetterStatsKey(redisPrefix), 'trimmed')) ?? 0);
}
