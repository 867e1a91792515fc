import type { RedisClient } from '../redis/connection.js';
import { hashTag } from '../redis/keys.js';
import { loadLua } from '../redis/lua-source.js';

/**
 * Rolling-window call budget shared by every process through Redis: the reservation is one
 * script (src/quota/lua/reserve-budget.lua), so no two processes can take the same room.
 */
const RESERVE = loadLua(new URL('./lua/reserve-budget.lua', import.meta.url));

export interface BudgetState {
  granted: boolean;
  used: number;
  remaining: number;
  /** When not granted: how long until enough room may free up. */
  retryInMs: number;
  /** Calls counted in the recent window (pace). */
  recent: number;
  /** How long a pause (after a 503 past the shared limit) still holds every call; 0: none. */
  pausedForMs: number;
}

export interface BudgetSettings {
  name: string;
  limit: number;
  windowMs: number;
  bucketMs: number;
  /** Length of the "recent" window reported for pacing decisions. */
  recentMs?: number;
}

interface BudgetCommands {
  tiBudgetReserve(...args: string[]): Promise<[number, number, number, number, number]>;
}

/** A call budget (e.g. single updates per 24 h, bulk calls per minute) shared across processes. */
export class CallBudget {
  private readonly redis: RedisClient & BudgetCommands;
  private readonly key: string;

  constructor(
    redis: RedisClient,
    prefix: string,
    readonly settings: BudgetSettings,
  ) {
    if (!('tiBudgetReserve' in redis)) redis.defineCommand('tiBudgetReserve', { numberOfKeys: 1, lua: RESERVE });
    this.redis = redis as RedisClient & BudgetCommands;
    this.key = `${hashTag(prefix)}:budget:${settings.name}`;
  }

  /** Takes room for `n` calls, or says how long to wait. All or nothing. */
  async reserve(n: number, now = Date.now()): Promise<BudgetState> {
    const s = this.settings;
    const [granted, used, wait, recent, paused] = await this.redis.tiBudgetReserve(
      this.key,
      String(now),
      String(s.bucketMs),
      String(s.windowMs),
      String(s.limit),
      String(n),
      String(s.recentMs ?? s.windowMs),
    );
    return {
      granted: granted === 1,
      used,
      remaining: Math.max(0, s.limit - used),
      retryInMs: wait,
      recent,
      pausedForMs: paused,
    };
  }

  /**
   * Holds every call of this budget, in every process, for at least `ms` (never shortens a
   * pause already longer): Target answered 503 because the account's shared limit is spent,
   * by us or by its other users, so calls before the minute has passed only fail again.
   */
  async pause(ms: number): Promise<void> {
    const pauseKey = `${this.key}:pause`;
    const ttl = Math.max(1, Math.round(ms));
    if ((await this.redis.set(pauseKey, '1', 'PX', ttl, 'NX')) !== 'OK') await this.redis.pexpire(pauseKey, ttl, 'GT');
  }

  /** Reads the budget without taking anything. */
  peek(now = Date.now()): Promise<BudgetState> {
    return this.reserve(0, now);
  }
}

/**
 * The two documented budgets: single updates per rolling 24 h, bulk calls per minute.
 * Each window is lengthened by `marginMs` (the Target timeout): a call reserved at t can
 * reach Target as late as t + timeout, and Target counts arrivals, not our reservations.
 */
export function createBudgets(
  redis: RedisClient,
  prefix: string,
  limits: { singlePerDay: number; bulkPerMinute: number; bulkWindowMs?: number; marginMs?: number },
) {
  const margin = limits.marginMs ?? 0;
  const bulkWindow = limits.bulkWindowMs ?? 60_000;
  return {
    single: new CallBudget(redis, prefix, {
      name: 'single',
      limit: limits.singlePerDay,
      windowMs: 24 * 3600_000 + margin,
      bucketMs: 60_000,
      recentMs: 3600_000,
    }),
    bulk: new CallBudget(redis, prefix, {
      name: 'bulk',
      limit: limits.bulkPerMinute,
      windowMs: bulkWindow + margin,
      bucketMs: Math.max(10, Math.min(1000, Math.floor(bulkWindow / 60))),
    }),
  };
}
export type Budgets = ReturnType<typeof createBudgets>;
