import type { RedisClient } from '../redis/connection.js';
import { hashTag } from '../redis/keys.js';

/**
 * Rolling-window call budget shared by every process through Redis. Calls are counted in
 * buckets (a hash: bucket index → count); a reservation sums the buckets that overlap the
 * window and takes room only if the sum plus the request stays within the limit. A bucket
 * partly inside the window counts whole, so the budget can be under-used by one bucket but
 * never exceeded.
 * KEYS[1]: the budget hash (declared, so a cluster client routes the call to its slot).
 * ARGV: now, bucketMs, windowMs, limit, n, recentMs.
 * While `<key>:pause` exists (Target answered 503: the account's shared limit is spent, see
 * CallBudget.pause), nothing is granted until it expires.
 * Returns { granted (1/0), used after, ms until room frees (0 if granted), used in last
 * recentMs, ms the pause has left (0: none) }.
 */
const RESERVE = `
local key = KEYS[1]
local now, bucketMs, windowMs, limit, n, recentMs = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local current = math.floor(now / bucketMs)
local span = math.ceil(windowMs / bucketMs)
local oldest = current - span + 1
local recentFrom = current - math.ceil(recentMs / bucketMs) + 1
local paused = redis.call('PTTL', key .. ':pause')
local fields = redis.call('HGETALL', key)
local used, recent, stale, earliest = 0, 0, {}, nil
for i = 1, #fields, 2 do
  local b, c = tonumber(fields[i]), tonumber(fields[i + 1])
  if b < oldest then
    stale[#stale + 1] = fields[i]
  else
    used = used + c
    if b >= recentFrom then recent = recent + c end
    if c > 0 and (earliest == nil or b < earliest) then earliest = b end
  end
end
if #stale > 0 then redis.call('HDEL', key, unpack(stale)) end
if paused < 0 then paused = 0 end
if n == 0 then return { 1, used, 0, recent, paused } end
if paused > 0 then return { 0, used, paused, recent, paused } end
if used + n > limit then
  local wait = bucketMs
  if earliest ~= nil then wait = (earliest + span) * bucketMs - now end
  return { 0, used, math.max(wait, 1), recent, 0 }
end
redis.call('HINCRBY', key, tostring(current), n)
redis.call('PEXPIRE', key, windowMs + bucketMs)
return { 1, used + n, 0, recent + n, 0 }
`;

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

  /**
   * Gives back room reserved for calls that were never made. `reservedAt` must be the time
   * passed to `reserve`, so the refund lands in the same bucket and leaves the window with it.
   */
  async refund(n: number, reservedAt: number): Promise<void> {
    if (n <= 0) return;
    const bucket = Math.floor(reservedAt / this.settings.bucketMs);
    await this.redis.hincrby(this.key, String(bucket), -n);
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
