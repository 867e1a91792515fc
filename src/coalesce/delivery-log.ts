import type { VisitorSnapshot } from './in-flight.js';
import type { RedisClient } from '../redis/connection.js';
import { groupByShard } from '../redis/shards.js';
import { stamp, storeKeys } from '../redis/keys.js';

/**
 * The delivery log: per visitor, its last deliveries and what Target answered, so a support
 * agent can see that (and when) a customer's update reached Target. One Redis list per
 * visitor, `<root>:dl:<vk>` in the visitor's shard, newest first, cut to DELIVERY_LOG_ENTRIES
 * and expiring DELIVERY_LOG_RETENTION_MS after its last entry (entries older than that are
 * also skipped when read). It keeps event stamps, never values: the values Target holds are
 * the delivered hash's, and a log must not become a second copy of profile data.
 *
 * Accepted deliveries are written by the ack script (src/coalesce/lua/ack-delivered.lua) in
 * the same atomic step that records them; failures that end a delivery (dead letters, rows
 * Target listed as failed) by {@link DeliveryLog.recordFailures}. Retries of a transient
 * failure are not logged: while Target is down they would fill every visitor's log with
 * the same 503, at a Redis cost per attempt.
 */

export type DeliveryRoute = 'single' | 'bulk';
export type DeliveryAnswer = 'accepted' | 'failed';

export interface DeliveryLogEntry {
  /** When the answer came (epoch ms). */
  at: number;
  route: DeliveryRoute;
  /** Bulk: Target's batch id. */
  batchId: string | null;
  answer: DeliveryAnswer;
  /** Why it failed (error code, HTTP status); never a value or a secret. */
  detail: string | null;
  /** Bulk: 1 when Target listed this visitor's row as failed. */
  rowsFailed: number;
  /** Per attribute sent: the stamp (`<occurredAt>|<event id>`, src/redis/keys.ts) of its value. */
  attributes: Record<string, string>;
}

/** Where and how a delivery was made, as the ack records it. */
export interface DeliveryRecord {
  route: DeliveryRoute;
  batchId?: string | undefined;
}

export interface DeliveryLogSettings {
  /** DELIVERY_LOG_ENTRIES: entries kept per visitor (0: no log). */
  entries: number;
  /** DELIVERY_LOG_RETENTION_MS. */
  retentionMs: number;
}

/** The key of a visitor's log, under its shard's root. */
export function deliveryLogKey(root: string, vk: string): string {
  return `${root}:dl:${vk}`;
}

/**
 * An entry as stored: short keys, no nulls, and the attributes grouped by the event that
 * carried them (`<occurredAt in base 36>|<event id>` → names), since the attributes of a
 * delivery mostly come from one or two events. A list of ten such entries per delivered
 * visitor is kept for days, so a byte here is a byte per delivery.
 */
interface StoredEntry {
  t: number;
  r: 's' | 'b';
  a: 'a' | 'f';
  b?: string;
  d?: string;
  f?: number;
  e: Record<string, string[]>;
}

/** One entry as stored. Pure. */
export function encodeDeliveryEntry(entry: DeliveryLogEntry): string {
  const byEvent: Record<string, string[]> = {};
  for (const [name, st] of Object.entries(entry.attributes)) {
    const parsed = splitStamp(st);
    const key = parsed === undefined ? st : `${parsed.occurredAtMs.toString(36)}|${parsed.eventId}`;
    (byEvent[key] ??= []).push(name);
  }
  const stored: StoredEntry = {
    t: entry.at,
    r: entry.route === 'bulk' ? 'b' : 's',
    a: entry.answer === 'failed' ? 'f' : 'a',
    e: byEvent,
  };
  if (entry.batchId !== null) stored.b = entry.batchId;
  if (entry.detail !== null) stored.d = entry.detail;
  if (entry.rowsFailed !== 0) stored.f = entry.rowsFailed;
  return JSON.stringify(stored);
}

/** `<15-digit occurredAt>|<event id>` (src/redis/keys.ts) into its parts. */
function splitStamp(st: string): { occurredAtMs: number; eventId: string } | undefined {
  const bar = st.indexOf('|');
  const ms = Number(st.slice(0, bar));
  return bar > 0 && Number.isFinite(ms) ? { occurredAtMs: ms, eventId: st.slice(bar + 1) } : undefined;
}

function decodeEntry(one: string): DeliveryLogEntry | undefined {
  const e = JSON.parse(one) as Partial<StoredEntry>;
  if (typeof e.t !== 'number' || typeof e.e !== 'object') return undefined;
  const attributes: Record<string, string> = {};
  for (const [key, names] of Object.entries(e.e)) {
    const bar = key.indexOf('|');
    const at = parseInt(key.slice(0, bar), 36);
    for (const name of names) attributes[name] = Number.isFinite(at) ? stamp(at, key.slice(bar + 1)) : key;
  }
  return {
    at: e.t,
    route: e.r === 'b' ? 'bulk' : 'single',
    batchId: e.b ?? null,
    answer: e.a === 'f' ? 'failed' : 'accepted',
    detail: e.d ?? null,
    rowsFailed: e.f ?? 0,
    attributes,
  };
}

/** Entries as stored, newest first, without those older than the retention or unreadable. Pure. */
export function decodeDeliveryEntries(raw: readonly string[], now: number, retentionMs: number): DeliveryLogEntry[] {
  const out: DeliveryLogEntry[] = [];
  for (const one of raw) {
    try {
      const entry = decodeEntry(one);
      if (entry !== undefined && now - entry.at <= retentionMs) out.push(entry);
    } catch {
      // A malformed entry (written by hand?) hides nothing else.
    }
  }
  return out;
}

/** A failure that ended a visitor's delivery. */
export interface DeliveryFailure {
  vk: string;
  /** Stamp per attribute the failed delivery carried. */
  attributes: Record<string, string>;
}

/** What a failed delivery of this snapshot carried, for {@link DeliveryLog.recordFailures}. Pure. */
export function failureOf(snapshot: VisitorSnapshot): DeliveryFailure {
  return { vk: snapshot.vk, attributes: stampsOf(snapshot) };
}

/** The stamp of each attribute of a snapshot. Pure. */
export function stampsOf(snapshot: Pick<VisitorSnapshot, 'attributes'>): Record<string, string> {
  return Object.fromEntries([...snapshot.attributes].map(([name, u]) => [name, u.stamp]));
}

/** Reads and writes the delivery log of a store (its prefix and shards). */
export class DeliveryLog {
  private readonly shards: ReadonlyArray<ReturnType<typeof storeKeys>>;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
    readonly settings: DeliveryLogSettings,
    shards = 1,
  ) {
    this.shards = Array.from({ length: shards }, (_, k) => storeKeys(prefix, k, shards));
  }

  private rootOf(shard: number): string {
    const keys = this.shards[shard];
    if (keys === undefined) throw new Error(`no shard ${shard}`);
    return keys.root;
  }

  /** Logs failures that ended these visitors' delivery: one pipeline per shard. */
  async recordFailures(
    failures: readonly DeliveryFailure[],
    record: DeliveryRecord & { detail: string; rowsFailed?: number },
    now = Date.now(),
  ): Promise<void> {
    if (this.settings.entries <= 0 || failures.length === 0) return;
    await Promise.all(
      [...groupByShard(failures, (f) => f.vk, this.shards.length)].map(async ([shard, group]) => {
        const pipeline = this.redis.pipeline();
        for (const { item } of group) {
          const key = deliveryLogKey(this.rootOf(shard), item.vk);
          const entry: DeliveryLogEntry = {
            at: now,
            route: record.route,
            batchId: record.batchId ?? null,
            answer: 'failed',
            detail: record.detail,
            rowsFailed: record.rowsFailed ?? 0,
            attributes: item.attributes,
          };
          pipeline.lpush(key, encodeDeliveryEntry(entry));
          pipeline.ltrim(key, 0, this.settings.entries - 1);
          pipeline.pexpire(key, this.settings.retentionMs);
        }
        await pipeline.exec();
      }),
    );
  }

  /** A visitor's entries, newest first. */
  async read(vk: string, shard: number, now = Date.now()): Promise<DeliveryLogEntry[]> {
    const raw = await this.redis.lrange(deliveryLogKey(this.rootOf(shard), vk), 0, -1);
    return decodeDeliveryEntries(raw, now, this.settings.retentionMs);
  }
}
