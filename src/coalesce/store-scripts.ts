import type { RedisClient } from '../redis/connection.js';
import {
  ACK_DELIVERED,
  CLAIM_DUE,
  EXPIRED_LEASES,
  MARKS_CLAIM,
  MARKS_SEEN,
  MARKS_TAKE,
  MERGE_EVENTS,
  RELEASE_CLAIM,
  RENEW_LEASE,
  RESTORE_VALUES,
  RESEND_DELIVERED,
  SNAPSHOT_CLAIM,
  UNCLAIM,
  FORGET_VISITOR,
} from './lua.js';

/** The store's Lua scripts as commands; each declares one key, the due index of its shard. */
export interface StoreCommands {
  tiMerge(...args: string[]): Promise<number[]>;
  tiClaim(...args: string[]): Promise<string[]>;
  tiSnapshot(...args: string[]): Promise<string[][]>;
  tiAck(...args: string[]): Promise<number[]>;
  tiRelease(...args: string[]): Promise<number>;
  tiExpired(...args: string[]): Promise<string[]>;
  tiRenew(...args: string[]): Promise<number[]>;
  tiRestore(...args: string[]): Promise<number>;
  tiResend(...args: string[]): Promise<[number, number]>;
  tiUnclaim(...args: string[]): Promise<number>;
  tiMarksSeen(...args: string[]): Promise<number[]>;
  tiMarksTake(...args: string[]): Promise<number>;
  tiMarksClaim(...args: string[]): Promise<[number, string]>;
  tiForget(...args: string[]): Promise<number[]>;
}

const SCRIPTS: Record<keyof StoreCommands, string> = {
  tiMerge: MERGE_EVENTS,
  tiClaim: CLAIM_DUE,
  tiSnapshot: SNAPSHOT_CLAIM,
  tiAck: ACK_DELIVERED,
  tiRelease: RELEASE_CLAIM,
  tiExpired: EXPIRED_LEASES,
  tiRenew: RENEW_LEASE,
  tiRestore: RESTORE_VALUES,
  tiResend: RESEND_DELIVERED,
  tiUnclaim: UNCLAIM,
  tiMarksSeen: MARKS_SEEN,
  tiMarksTake: MARKS_TAKE,
  tiMarksClaim: MARKS_CLAIM,
  tiForget: FORGET_VISITOR,
};

/** Defines the store scripts on a connection (once); single node or cluster alike. */
export function withStoreCommands(redis: RedisClient): RedisClient & StoreCommands {
  for (const [name, lua] of Object.entries(SCRIPTS)) {
    // ioredis loads the script by SHA and falls back to EVAL after a Redis restart. The one
    // declared key (the shard's due index) routes the call to that shard's slot on a cluster.
    if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: 1, lua });
  }
  return redis as RedisClient & StoreCommands;
}

/** Sum of counts (one per shard). */
export function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** The replies of a pipeline, or its first error. */
export function settled<T>(replies: Array<[Error | null, unknown]> | null): T[] {
  return (replies ?? []).map(([error, value]) => {
    if (error !== null) throw error;
    return value as T;
  });
}
