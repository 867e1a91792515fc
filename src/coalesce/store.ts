import type { Redis } from 'ioredis';
import { visitorKey, type ValidEvent } from '../events/index.js';
import { stamp, storeKeys } from '../keys.js';
import { ACK_DELIVERED, CLAIM_DUE, EXPIRED_LEASES, MERGE_EVENTS, RELEASE_CLAIM, RENEW_LEASE, RESTORE_VALUES, SNAPSHOT_CLAIM } from './lua.js';

/**
 * Outcome of merging one event into the visitor store: `replayed` when the same batch (job)
 * was already merged, i.e. the job ran again after its worker died past the merge.
 */
export type MergeOutcome = 'applied' | 'duplicate' | 'late' | 'superseded' | 'replayed';
const OUTCOMES: readonly MergeOutcome[] = ['duplicate', 'applied', 'late', 'superseded', 'replayed'];

/** One attribute as held in flight: its value and the stamp of the event it came from. */
export interface AttributeUpdate {
  value: string;
  stamp: string;
}

/** What one delivery should send for one visitor. */
export interface VisitorSnapshot {
  vk: string;
  attributes: Map<string, AttributeUpdate>;
}

export interface StoreSettings {
  prefix: string;
  coalesceWindowMs: number;
  dedupeWindowMs: number;
  deliveredRetentionMs: number;
  leaseMs: number;
}

interface StoreCommands {
  tiMerge(...args: string[]): Promise<number[]>;
  tiClaim(...args: string[]): Promise<string[]>;
  tiSnapshot(...args: string[]): Promise<string[][]>;
  tiAck(...args: string[]): Promise<number>;
  tiRelease(...args: string[]): Promise<number>;
  tiExpired(...args: string[]): Promise<string[]>;
  tiRenew(...args: string[]): Promise<number>;
  tiRestore(...args: string[]): Promise<number>;
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
};

function withCommands(redis: Redis): Redis & StoreCommands {
  for (const [name, lua] of Object.entries(SCRIPTS)) {
    // ioredis loads the script by SHA and falls back to EVAL after a Redis restart. The one
    // declared key (the due index) routes the call to the pipeline's slot on Redis Cluster.
    if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: 1, lua });
  }
  return redis as Redis & StoreCommands;
}

/**
 * The visitor store: pending attributes per visitor, the due index, claims with leases and
 * the delivered stamps. All state changes are Lua scripts (src/coalesce/lua.ts).
 */
export class VisitorStore {
  private readonly redis: Redis & StoreCommands;
  readonly keys: ReturnType<typeof storeKeys>;

  constructor(redis: Redis, readonly settings: StoreSettings) {
    this.redis = withCommands(redis);
    this.keys = storeKeys(settings.prefix);
  }

  /**
   * Merges a batch of mapped events in one round trip; outcomes in input order. `batchId`
   * (the ingest job id; empty: none) makes a second merge of the same batch a no-op that
   * reports every event as `replayed`.
   */
  async merge(source: string, events: readonly ValidEvent[], now = Date.now(), batchId = ''): Promise<MergeOutcome[]> {
    if (events.length === 0) return [];
    const args: string[] = [
      this.keys.due, this.keys.root, source, String(now), String(this.settings.dedupeWindowMs),
      String(this.settings.coalesceWindowMs), batchId, String(events.length),
    ];
    for (const event of events) {
      const entries = Object.entries(event.attributes);
      args.push(visitorKey(event.visitor), event.id, stamp(event.occurredAtMs, event.id), String(entries.length));
      for (const [name, value] of entries) args.push(name, value);
    }
    const codes = await this.redis.tiMerge(...args);
    return codes.map((code) => OUTCOMES[code] ?? 'applied');
  }

  /** Claims up to `limit` due visitors for one delivery; returns their visitor keys. */
  claimDue(claimId: string, limit: number, now = Date.now()): Promise<string[]> {
    return this.redis.tiClaim(this.keys.due, this.keys.root, String(now), String(limit), String(this.settings.leaseMs), claimId);
  }

  /** Newest values to send for each visitor still held by this claim (others are left out). */
  async snapshot(claimId: string, vks: readonly string[], now = Date.now()): Promise<VisitorSnapshot[]> {
    if (vks.length === 0) return [];
    const rows = await this.redis.tiSnapshot(this.keys.due, this.keys.root, claimId, String(now), String(this.settings.leaseMs), ...vks);
    const out: VisitorSnapshot[] = [];
    rows.forEach((flat, index) => {
      const vk = vks[index];
      if (vk === undefined || flat.length === 0) return;
      out.push({ vk, attributes: parseInFlight(flat) });
    });
    return out;
  }

  /** Records what Target accepted; `'more'` means newer values arrived and must be sent too. */
  async ack(claimId: string, snapshot: VisitorSnapshot, now = Date.now()): Promise<'done' | 'more' | 'lost'> {
    const args = [this.keys.due, this.keys.root, claimId, String(now), String(this.settings.deliveredRetentionMs), snapshot.vk];
    for (const [name, update] of snapshot.attributes) args.push(name, update.stamp);
    const code = await this.redis.tiAck(...args);
    return code === 1 ? 'done' : code === 2 ? 'more' : 'lost';
  }

  /**
   * What is in flight for this claim, read without folding in newer pending values: for a
   * bulk batch Target is still processing, so the ack records exactly what was sent.
   */
  async readInFlight(claimId: string, vks: readonly string[]): Promise<VisitorSnapshot[]> {
    if (vks.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const vk of vks) pipeline.hgetall(this.keys.inFlight(vk));
    const replies = (await pipeline.exec()) ?? [];
    const out: VisitorSnapshot[] = [];
    replies.forEach(([error, hash], index) => {
      if (error !== null) throw error;
      const vk = vks[index];
      const fields = hash as Record<string, string>;
      if (vk === undefined || fields._claim !== claimId) return;
      out.push({ vk, attributes: parseInFlight(Object.entries(fields).flat()) });
    });
    return out;
  }

  /** Pushes the leases of these visitors forward (only leases that still exist). */
  async renewLeases(vks: readonly string[], now = Date.now()): Promise<void> {
    if (vks.length === 0) return;
    const until = String(now + this.settings.leaseMs);
    await this.redis.zadd(this.keys.leases, 'XX', ...vks.flatMap((vk) => [until, vk]));
  }

  /** For each visitor: does this pipeline hold a delivered stamp (Target has seen it)? */
  async knownVisitors(vks: readonly string[]): Promise<boolean[]> {
    if (vks.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const vk of vks) pipeline.exists(this.keys.delivered(vk));
    const replies = (await pipeline.exec()) ?? [];
    return replies.map(([error, n]) => {
      if (error !== null) throw error;
      return n === 1;
    });
  }

  /**
   * Puts dead-lettered values back on the normal path (dlq replay) with their original
   * stamps; values older than what Target, pending or in-flight hold are skipped. Returns
   * how many attributes were restored.
   */
  restore(vk: string, attributes: Readonly<Record<string, AttributeUpdate>>, now = Date.now()): Promise<number> {
    const args = [this.keys.due, this.keys.root, String(now), String(this.settings.coalesceWindowMs), vk];
    for (const [name, update] of Object.entries(attributes)) args.push(name, update.value, update.stamp);
    return this.redis.tiRestore(...args);
  }

  /** Lets go of visitors whose values were dead-lettered. */
  release(claimId: string, vks: readonly string[], now = Date.now()): Promise<number> {
    if (vks.length === 0) return Promise.resolve(0);
    return this.redis.tiRelease(this.keys.due, this.keys.root, claimId, String(now), ...vks);
  }

  /** Claims whose lease ran out, as `{ vk, claimId }`. */
  async expiredLeases(limit: number, now = Date.now()): Promise<Array<{ vk: string; claimId: string }>> {
    const flat = await this.redis.tiExpired(this.keys.due, this.keys.root, String(now), String(limit));
    const out: Array<{ vk: string; claimId: string }> = [];
    for (let i = 0; i + 1 < flat.length; i += 2) out.push({ vk: flat[i] ?? '', claimId: flat[i + 1] ?? '' });
    return out;
  }

  /** Compare-and-set of a visitor's claim id, renewing its lease; true when switched. */
  async renewLease(vk: string, oldClaim: string, newClaim: string, now = Date.now()): Promise<boolean> {
    return (await this.redis.tiRenew(this.keys.due, this.keys.root, vk, oldClaim, newClaim, String(now), String(this.settings.leaseMs))) === 1;
  }

  /** Counters kept by the merge script: `events_` applied, duplicate, late_dropped, superseded, replayed. */
  async stats(): Promise<Record<string, number>> {
    const raw = await this.redis.hgetall(this.keys.stats);
    return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, Number(v)]));
  }

  /** Visitors whose coalescing window has ended (due now). */
  dueCount(now = Date.now()): Promise<number> {
    return this.redis.zcount(this.keys.due, '-inf', now);
  }

  /** Visitors waiting for their coalescing window to end. */
  pendingVisitors(): Promise<number> {
    return this.redis.zcard(this.keys.due);
  }

  /** Visitors claimed by a delivery that has not finished. */
  inFlightVisitors(): Promise<number> {
    return this.redis.zcard(this.keys.leases);
  }
}

/** Turns an in-flight hash (`v:<name>`, `s:<name>`, `_claim`) into attribute updates. */
export function parseInFlight(flat: readonly string[]): Map<string, AttributeUpdate> {
  const values = new Map<string, string>();
  const stamps = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const field = flat[i] ?? '';
    const value = flat[i + 1] ?? '';
    if (field.startsWith('v:')) values.set(field.slice(2), value);
    else if (field.startsWith('s:')) stamps.set(field.slice(2), value);
  }
  const out = new Map<string, AttributeUpdate>();
  for (const [name, value] of values) {
    const s = stamps.get(name);
    if (s !== undefined) out.set(name, { value, stamp: s });
  }
  return out;
}
