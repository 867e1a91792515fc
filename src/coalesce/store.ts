import { createHash } from 'node:crypto';
import { visitorKey, type ValidEvent } from '../events/index.js';
import { stamp, storeKeys } from '../redis/keys.js';
import type { Config } from '../config.js';
import type { RedisClient } from '../redis/connection.js';
import { markerBucket, markerExpiresAt, markerField, markerGeneration, markerSeed } from './markers.js';
import { fnv1a, groupByShard, shardOf } from '../redis/shards.js';
import { parseInFlight, snapshotOf, type AttributeUpdate, type VisitorSnapshot } from './in-flight.js';
import { settled, sum, withStoreCommands, type StoreCommands } from './store-scripts.js';
import {
  DeliveryLog,
  encodeDeliveryEntry,
  stampsOf,
  type DeliveryLogSettings,
  type DeliveryRecord,
} from './delivery-log.js';
import {
  ACK_CODES,
  MERGE_CODES,
  MergeIncompleteError,
  RENEW_CODES,
  codeName,
  type AckOutcome,
  type MergeOutcome,
} from './script-codes.js';

export {
  MergeIncompleteError,
  parseInFlight,
  type AckOutcome,
  type AttributeUpdate,
  type MergeOutcome,
  type VisitorSnapshot,
};

/** What {@link VisitorStore.forget} removed: attributes pending, in flight and delivered. */
export interface ForgottenValues {
  pending: number;
  inFlight: number;
  delivered: number;
  /** A delivery held the visitor: it finishes with what it read; its ack records nothing. */
  claimed: boolean;
}

export interface StoreSettings {
  prefix: string;
  coalesceWindowMs: number;
  dedupeWindowMs: number;
  deliveredRetentionMs: number;
  leaseMs: number;
  /** REDIS_SHARDS: parts of the store, each under its own hash tag. Default 1. */
  shards?: number;
  /** TARGET_PROFILE_LIFETIME_DAYS in ms: a visitor delivered longer ago is unknown to Target again. Default: no limit. */
  profileLifetimeMs?: number;
  /** The delivery log each ack writes (src/coalesce/delivery-log.ts). Default: none. */
  deliveryLog?: DeliveryLogSettings;
}

/** The store settings a process reads from its config. */
export function storeSettingsFrom(
  config: Pick<
    Config,
    | 'REDIS_PREFIX'
    | 'COALESCE_WINDOW_MS'
    | 'DEDUPE_WINDOW_MS'
    | 'DELIVERED_RETENTION_MS'
    | 'CLAIM_LEASE_MS'
    | 'REDIS_SHARDS'
    | 'TARGET_PROFILE_LIFETIME_DAYS'
    | 'DELIVERY_LOG_ENTRIES'
    | 'DELIVERY_LOG_RETENTION_MS'
  >,
): StoreSettings {
  return {
    prefix: config.REDIS_PREFIX,
    coalesceWindowMs: config.COALESCE_WINDOW_MS,
    dedupeWindowMs: config.DEDUPE_WINDOW_MS,
    deliveredRetentionMs: config.DELIVERED_RETENTION_MS,
    leaseMs: config.CLAIM_LEASE_MS,
    shards: config.REDIS_SHARDS,
    profileLifetimeMs: config.TARGET_PROFILE_LIFETIME_DAYS * 24 * 3600_000,
    deliveryLog: { entries: config.DELIVERY_LOG_ENTRIES, retentionMs: config.DELIVERY_LOG_RETENTION_MS },
  };
}

type ShardKeys = ReturnType<typeof storeKeys>;

function ackOutcome(code: unknown): AckOutcome {
  return codeName('ack-delivered', ACK_CODES, code);
}

/** Visitors per pipelined ack round trip (bounded so one pipeline stays small). */
const ACK_CHUNK = 1000;

/** Chunks of one batch's ack under way at once (ackInFlight). */
const ACK_CHUNKS_AT_ONCE = 4;

/**
 * Visitors per ack-delivered.lua call: about ten commands each, so a call blocks Redis for a
 * few milliseconds at most, while the script call, the suppression check and the lease ZREM
 * are paid once per call instead of once per visitor.
 */
const ACK_SCRIPT_VISITORS = 100;

/**
 * Most visitors one claim or snapshot script call handles. A script blocks Redis while it
 * runs: one call for a 24,000-visitor bulk claim held every other client (intake included)
 * for 0.3 s to claim and 0.5 s to snapshot (SLOWLOG in `npm run bench`); 1,000 visitors a
 * call still took up to 47 ms on the Zipf head of W1. In steps of this size a call takes
 * a few milliseconds (about 20 at most) and other commands run in between.
 */
const SCRIPT_CHUNK = 500;

/**
 * Visitors per snapshot-claim.lua call: a snapshot costs Redis about three times a claim per
 * visitor (it reads three hashes and writes the in-flight one), so SCRIPT_CHUNK visitors
 * held Redis for 15-20 ms; this many for a few.
 */
const SNAPSHOT_SCRIPT_VISITORS = 100;

/**
 * Most events one merge-events.lua call handles. A 1,000-event ingest job (the SDK's and
 * the import's size) merged in one call blocked Redis for 20-25 ms, a 500-event one for
 * 10-12 (`bench/measure-store.ts --merges`), and intake's dedupe, BullMQ and the acks
 * waited behind it. In calls of this size each takes 2-3 ms; they go out together, so the
 * job still costs one round trip. Each call is atomic on its own and remembers its part of
 * the batch (mergePartBatchId), and every event keeps its own applied marker, so a job that
 * runs again after a crash between two calls merges each event once (P2).
 */
export const MERGE_SCRIPT_EVENTS = 100;

/**
 * A shard's share of a batch cut into merge calls of about MERGE_SCRIPT_EVENTS events, each
 * visitor's events kept in one call (in their order), visitors in order of first appearance.
 * A call reads and writes each of its visitors once however many of its events they have, so
 * cutting a Zipf batch across a busy visitor's events would repeat that for every call it
 * appears in. A visitor with more events than a call takes still gets one call of its own.
 * The same input always gives the same calls, so a job that runs again finds its parts. Pure.
 */
export function mergeChunks<T>(group: readonly T[], vkOf: (item: T) => string): T[][] {
  const byVisitor = new Map<string, T[]>();
  for (const item of group) {
    const vk = vkOf(item);
    const list = byVisitor.get(vk);
    if (list === undefined) byVisitor.set(vk, [item]);
    else list.push(item);
  }
  const chunks: T[][] = [];
  let current: T[] = [];
  for (const items of byVisitor.values()) {
    if (current.length > 0 && current.length + items.length > MERGE_SCRIPT_EVENTS) {
      chunks.push(current);
      current = [];
    }
    for (const item of items) current.push(item);
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/**
 * The batch id of one merge call of a job: the job's, then `#<count>.<FNV-1a of the call's
 * event ids>`. Named by what the call holds, not by its position: if a job runs again with
 * its events cut differently (the map's mapping or MAX_VALUE_LENGTH changed since, so other
 * events are valid, or a release cut them otherwise), no call is taken for one that merged
 * other events; those it holds that were merged before are duplicates by their own markers,
 * the others merge (P1, P2).
 */
export function mergePartBatchId(batchId: string, ids: readonly string[]): string {
  return batchId === '' ? '' : `${batchId}#${ids.length}.${fnv1a(ids.join('\n')).toString(36)}`;
}

/**
 * The visitor store: pending attributes per visitor, the due index, claims with leases and
 * the delivered stamps. All state changes are Lua scripts (src/coalesce/lua/), whose
 * return codes are named in src/coalesce/script-codes.ts.
 */
export class VisitorStore {
  private readonly redis: RedisClient & StoreCommands;
  /** Keys of every shard, by shard number. */
  readonly shards: readonly ShardKeys[];
  /** Keys of shard 0 (with one shard: the whole store, under `{prefix}`). */
  readonly keys: ShardKeys;
  /** Each visitor's last deliveries (written by the acks and by failures that end a delivery). */
  readonly deliveryLog: DeliveryLog;

  constructor(
    redis: RedisClient,
    readonly settings: StoreSettings,
  ) {
    this.redis = withStoreCommands(redis);
    const count = settings.shards ?? 1;
    this.shards = Array.from({ length: count }, (_, k) => storeKeys(settings.prefix, k, count));
    this.keys = this.shard(0);
    this.deliveryLog = new DeliveryLog(
      redis,
      settings.prefix,
      settings.deliveryLog ?? { entries: 0, retentionMs: 1 },
      count,
    );
  }

  private shard(k: number): ShardKeys {
    const keys = this.shards[k];
    if (keys === undefined) throw new Error(`no shard ${k} (REDIS_SHARDS=${this.shards.length})`);
    return keys;
  }

  /** Keys of the shard that holds this visitor. */
  keysOf(vk: string): ShardKeys {
    return this.shard(shardOf(vk, this.shards.length));
  }

  /** Runs `call` once per shard that holds some of `vks` (in parallel); results in input order. */
  private async perShard<R>(
    vks: readonly string[],
    call: (keys: ShardKeys, vks: string[]) => Promise<readonly R[]>,
  ): Promise<R[]> {
    const out = new Array<R>(vks.length);
    await Promise.all(
      [...groupByShard(vks, (vk) => vk, this.shards.length)].map(async ([k, group]) => {
        const results = await call(
          this.shard(k),
          group.map((g) => g.item),
        );
        group.forEach((g, i) => {
          out[g.index] = results[i] as R;
        });
      }),
    );
    return out;
  }

  /**
   * Merges a batch of mapped events; outcomes in input order. One atomic call per shard the
   * batch touches and MERGE_SCRIPT_EVENTS events, sent together (one round trip with one
   * shard). `batchId` (the ingest job id; empty: none) makes a second merge of the same
   * batch a no-op that reports every event as `replayed`: each call remembers its part.
   */
  async merge(
    source: string,
    events: readonly ValidEvent[],
    now = Date.now(),
    batchId = '',
    receivedAt = now,
  ): Promise<MergeOutcome[]> {
    if (events.length === 0) return [];
    const out = new Array<MergeOutcome>(events.length);
    // Each event's visitor key and its source's marker seed made once: grouping by shard,
    // cutting into calls and the arguments all need them.
    const keyed = events.map((event) => ({ event, vk: visitorKey(event.visitor) }));
    const groups = groupByShard(keyed, (k) => k.vk, this.shards.length);
    const generation = markerGeneration(now, this.settings.dedupeWindowMs);
    const seed = markerSeed(source);
    const calls: Array<{ shard: number; group: Array<{ item: (typeof keyed)[number]; index: number }> }> = [];
    for (const [shard, group] of groups)
      for (const part of mergeChunks(group, (g) => g.item.vk)) calls.push({ shard, group: part });
    const settledCalls = await Promise.allSettled(
      calls.map(async ({ shard, group }) => {
        const keys = this.shard(shard);
        const args: string[] = [
          keys.due,
          keys.root,
          source,
          String(now),
          String(this.settings.dedupeWindowMs),
          String(this.settings.coalesceWindowMs),
          mergePartBatchId(
            batchId,
            group.map((g) => g.item.event.id),
          ),
          String(group.length),
          String(receivedAt),
          String(generation),
        ];
        for (const {
          item: { event, vk },
        } of group) {
          const entries = Object.entries(event.attributes);
          const bucket = markerBucket(source, event.id, seed);
          const ttl = markerExpiresAt(generation, bucket, this.settings.dedupeWindowMs) - now;
          args.push(
            vk,
            markerField(source, event.id),
            String(bucket),
            String(ttl),
            stamp(event.occurredAtMs, event.id),
            event.occurredAtMs.toString(36),
            String(entries.length),
          );
          for (const [name, value] of entries) args.push(name, value);
        }
        const codes = await this.redis.tiMerge(...args);
        group.forEach((g, i) => {
          out[g.index] = codeName('merge-events', MERGE_CODES, codes[i]);
        });
      }),
    );
    // Settled, not all: the calls that merged are reported with the failure, for the counts.
    const failed = settledCalls.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) throw new MergeIncompleteError(out, failed.reason);
    return out;
  }

  /**
   * Claims up to `limit` due visitors of one shard for one delivery; returns their visitor
   * keys. Big claims go in script calls of SCRIPT_CHUNK visitors, all under the same claim id.
   * `dueBy` (default `now`): the latest due time taken, for a flood's last claim, which also
   * takes the visitors handed back to wait for bulk budget.
   */
  async claimDue(claimId: string, limit: number, now = Date.now(), shard = 0, dueBy = now): Promise<string[]> {
    const keys = this.shard(shard);
    const out: string[] = [];
    while (out.length < limit) {
      const want = Math.min(SCRIPT_CHUNK, limit - out.length);
      const got = await this.redis.tiClaim(
        keys.due,
        keys.root,
        String(now),
        String(want),
        String(this.settings.leaseMs),
        claimId,
        String(dueBy),
      );
      out.push(...got);
      // Fewer than asked: nothing more is due, or the call's scan met too many held visitors.
      if (got.length < want) break;
    }
    return out;
  }

  /**
   * Newest values to send for each visitor still held by this claim (others are left out).
   * `freeze` (bulk): from now on this claim's values stay as returned, see
   * src/coalesce/lua/snapshot-claim.lua.
   */
  async snapshot(
    claimId: string,
    vks: readonly string[],
    now = Date.now(),
    options: { freeze?: boolean } = {},
  ): Promise<VisitorSnapshot[]> {
    if (vks.length === 0) return [];
    const freeze = options.freeze === true ? '1' : '0';
    const rows = await this.perShard(vks, async (keys, group) => {
      // One script call per SNAPSHOT_SCRIPT_VISITORS visitors, one after another, so Redis
      // serves other clients between them (calls sent together would arrive in one read).
      const flat: string[][] = [];
      for (let i = 0; i < group.length; i += SNAPSHOT_SCRIPT_VISITORS) {
        flat.push(
          ...(await this.redis.tiSnapshot(
            keys.due,
            keys.root,
            claimId,
            String(now),
            String(this.settings.leaseMs),
            freeze,
            ...group.slice(i, i + SNAPSHOT_SCRIPT_VISITORS),
          )),
        );
      }
      return flat;
    });
    const out: VisitorSnapshot[] = [];
    rows.forEach((flat, index) => {
      const vk = vks[index];
      if (vk === undefined || flat.length === 0) return;
      out.push(snapshotOf(vk, flat));
    });
    return out;
  }

  /**
   * Records what Target accepted (and logs the delivery, `record`); `'more'` means newer
   * values arrived and must be sent too.
   */
  async ack(
    claimId: string,
    snapshot: VisitorSnapshot,
    now = Date.now(),
    record: DeliveryRecord = { route: 'single' },
  ): Promise<AckOutcome> {
    const [code] = await this.redis.tiAck(...this.ackArgs(claimId, [snapshot], now, false, record));
    return ackOutcome(code);
  }

  /**
   * `ack` for many visitors (a complete bulk batch): per shard, one pipeline of script calls
   * of ACK_SCRIPT_VISITORS visitors each, ACK_CHUNK visitors at a time. Results in input order.
   */
  async ackMany(
    claimId: string,
    snapshots: readonly VisitorSnapshot[],
    now = Date.now(),
    created = false,
    record: DeliveryRecord = { route: 'bulk' },
  ): Promise<AckOutcome[]> {
    const out: AckOutcome[] = [];
    for (let i = 0; i < snapshots.length; i += ACK_CHUNK) {
      const chunk = snapshots.slice(i, i + ACK_CHUNK);
      const bySnapshot = new Map(chunk.map((s) => [s.vk, s]));
      const codes = await this.perShard(
        chunk.map((s) => s.vk),
        async (_keys, group) => {
          const pipeline = this.redis.pipeline() as unknown as {
            tiAck(...args: string[]): unknown;
            exec(): Promise<Array<[Error | null, unknown]> | null>;
          };
          const inGroup = group.map((vk) => bySnapshot.get(vk)).filter((s) => s !== undefined);
          for (let k = 0; k < inGroup.length; k += ACK_SCRIPT_VISITORS) {
            pipeline.tiAck(...this.ackArgs(claimId, inGroup.slice(k, k + ACK_SCRIPT_VISITORS), now, created, record));
          }
          return settled<number[]>(await pipeline.exec()).flat();
        },
      );
      out.push(...codes.map(ackOutcome));
    }
    return out;
  }

  /** The arguments of one ack-delivered.lua call for these visitors (all of one shard). */
  private ackArgs(
    claimId: string,
    snapshots: readonly VisitorSnapshot[],
    now: number,
    created: boolean,
    record: DeliveryRecord,
  ): string[] {
    const keys = this.keysOf(snapshots[0]?.vk ?? '');
    const log = this.settings.deliveryLog ?? { entries: 0, retentionMs: 1 };
    const args = [
      keys.due,
      keys.root,
      claimId,
      String(now),
      String(this.settings.deliveredRetentionMs),
      created ? '1' : '0',
      String(log.entries),
      String(log.retentionMs),
      String(snapshots.length),
    ];
    for (const snapshot of snapshots) {
      const entry =
        log.entries > 0 && snapshot.attributes.size > 0
          ? encodeDeliveryEntry({
              at: now,
              route: record.route,
              batchId: record.batchId ?? null,
              answer: 'accepted',
              detail: null,
              rowsFailed: 0,
              attributes: stampsOf(snapshot),
            })
          : '';
      args.push(snapshot.vk, entry, String(snapshot.attributes.size));
      for (const [name, update] of snapshot.attributes) args.push(name, update.stamp, update.value);
    }
    return args;
  }

  /**
   * Acks what is in flight for these visitors of the claim (a bulk batch Target reports
   * complete), reading and acking ACK_CHUNK visitors at a time so a 50,000-visitor batch
   * never sits in memory, or in one pipeline, whole. `sent` picks the attributes the batch
   * carried (others stay in flight). Returns the visitors done and those with values left
   * (`more`: values the batch did not carry, or none of ours any more are left out).
   */
  async ackInFlight(
    claimId: string,
    vks: readonly string[],
    now = Date.now(),
    sent: (snapshot: VisitorSnapshot) => VisitorSnapshot = (s) => s,
    created = false,
    record: DeliveryRecord = { route: 'bulk' },
  ): Promise<{ done: number; more: string[] }> {
    let done = 0;
    // Per chunk, so `more` keeps the order of `vks` whichever chunk ends first.
    const moreOf: string[][] = [];
    // ACK_CHUNKS_AT_ONCE chunks at a time: each chunk is two round trips (read, ack), and
    // while the map keeps Redis busy each waits behind its merges, so one chunk after another
    // took 25 s to ack a 45,000-row batch in the full-size bench (docs/performance.md).
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < vks.length) {
        const start = next;
        next += ACK_CHUNK;
        const snapshots = (await this.readInFlight(claimId, vks.slice(start, start + ACK_CHUNK))).map(sent);
        const acked = await this.ackMany(claimId, snapshots, now, created, record);
        const more: string[] = [];
        acked.forEach((outcome, k) => {
          if (outcome === 'done') done += 1;
          else if (outcome === 'more') more.push(snapshots[k]?.vk ?? '');
        });
        moreOf[start / ACK_CHUNK] = more;
      }
    };
    await Promise.all(Array.from({ length: Math.min(ACK_CHUNKS_AT_ONCE, Math.ceil(vks.length / ACK_CHUNK)) }, worker));
    return { done, more: moreOf.flat() };
  }

  /**
   * What is in flight for this claim, read without folding in newer pending values: for a
   * bulk batch Target is still processing, so the ack records exactly what was sent. With
   * `withDelivered`, each snapshot also carries the visitor's delivered values (a resubmitted
   * v2 row carries them again).
   */
  async readInFlight(
    claimId: string,
    vks: readonly string[],
    options: { withDelivered?: boolean } = {},
  ): Promise<VisitorSnapshot[]> {
    if (vks.length === 0) return [];
    const withDelivered = options.withDelivered === true;
    // One pipeline per shard: a cluster pipeline must not mix slots.
    type Hashes = { fields: Record<string, string>; delivered: Record<string, string> };
    const hashes = await this.perShard(vks, async (keys, group): Promise<Hashes[]> => {
      const pipeline = this.redis.pipeline();
      for (const vk of group) {
        pipeline.hgetall(keys.inFlight(vk));
        if (withDelivered) pipeline.hgetall(keys.delivered(vk));
      }
      const replies = settled<Record<string, string>>(await pipeline.exec());
      if (!withDelivered) return replies.map((fields) => ({ fields, delivered: {} }));
      return group.map((_, k) => ({ fields: replies[2 * k] ?? {}, delivered: replies[2 * k + 1] ?? {} }));
    });
    const out: VisitorSnapshot[] = [];
    hashes.forEach(({ fields, delivered }, index) => {
      const vk = vks[index];
      if (vk === undefined || fields._claim !== claimId) return;
      const flat: string[] = Object.entries(fields).flat();
      for (const [field, value] of Object.entries(delivered))
        if (field.startsWith('v:')) flat.push(`d:${field.slice(2)}`, value);
      out.push(snapshotOf(vk, flat));
    });
    return out;
  }

  /** Pushes the leases of these visitors forward (only leases that still exist). */
  async renewLeases(vks: readonly string[], now = Date.now()): Promise<void> {
    if (vks.length === 0) return;
    const until = String(now + this.settings.leaseMs);
    await this.perShard(vks, async (keys, group) => {
      await this.redis.zadd(keys.leases, 'XX', ...group.flatMap((vk) => [until, vk]));
      return group;
    });
  }

  /**
   * For each visitor: has Target got its profile, as far as this pipeline knows? True when
   * a bulk v2 row created or renewed it within the profile lifetime, less a tenth as a
   * margin for deliveries still under way (Target drops a profile that long after its last
   * activity, and a single update then stores nothing). Visitors delivered only by single
   * updates (DELIVERY_MODE=single, or before this was recorded) count as known.
   */
  async knownVisitors(vks: readonly string[], now = Date.now()): Promise<boolean[]> {
    if (vks.length === 0) return [];
    const lifetime = (this.settings.profileLifetimeMs ?? Infinity) * 0.9;
    return this.perShard(vks, async (keys, group) => {
      const pipeline = this.redis.pipeline();
      for (const vk of group) pipeline.exists(keys.delivered(vk)).hget(keys.delivered(vk), ':at');
      const replies = settled<number | string | null>(await pipeline.exec());
      return group.map((_, k) => {
        if (replies[2 * k] !== 1) return false;
        const at = replies[2 * k + 1];
        return at === null || at === undefined || now - Number(at) < lifetime;
      });
    });
  }

  /**
   * Puts dead-lettered values back on the normal path (dlq replay) with their original
   * stamps; values older than what Target, pending or in-flight hold are skipped. Returns
   * how many attributes were restored.
   */
  restore(vk: string, attributes: Readonly<Record<string, AttributeUpdate>>, now = Date.now()): Promise<number> {
    const keys = this.keysOf(vk);
    const args = [keys.due, keys.root, String(now), String(this.settings.coalesceWindowMs), vk];
    for (const [name, update] of Object.entries(attributes)) args.push(name, update.value, update.stamp);
    return this.redis.tiRestore(...args);
  }

  /**
   * What Target should hold for a visitor, as far as this pipeline knows: per attribute the
   * value last delivered and its stamp (the delivered hash). Empty for a visitor never
   * delivered, forgotten, or delivered longer ago than DELIVERED_RETENTION_MS.
   */
  async readDelivered(vk: string): Promise<Map<string, AttributeUpdate>> {
    const fields = await this.redis.hgetall(this.keysOf(vk).delivered(vk));
    const out = new Map<string, AttributeUpdate>();
    for (const [field, stamp] of Object.entries(fields)) {
      if (field.startsWith(':') || field.startsWith('v:')) continue;
      const value = fields[`v:${field}`];
      if (value !== undefined) out.set(field, { value, stamp });
    }
    return out;
  }

  /**
   * Sends these attributes' delivered values again through the normal path (the landing
   * audit found them missing at Target): back to pending with their delivered stamps, unless
   * a delivery carrying them is under way or a value as new or newer is pending (it wins).
   * `profileGone`: Target has no profile, so the next delivery must create it (bulk v2).
   * Each delivered value goes again at most `maxResends` times (default 3). Returns how many
   * attributes were put back and how many were not for that limit; see
   * src/coalesce/lua/resend-delivered.lua.
   */
  async resendDelivered(
    vk: string,
    names: readonly string[],
    options: { profileGone?: boolean; maxResends?: number } = {},
    now = Date.now(),
  ): Promise<{ resent: number; gaveUp: number }> {
    if (names.length === 0) return { resent: 0, gaveUp: 0 };
    const keys = this.keysOf(vk);
    const [resent = 0, gaveUp = 0] = await this.redis.tiResend(
      keys.due,
      keys.root,
      String(now),
      String(this.settings.coalesceWindowMs),
      vk,
      options.profileGone === true ? '1' : '0',
      String(options.maxResends ?? 3),
      ...names,
    );
    return { resent, gaveUp };
  }

  /**
   * Erases one visitor from the store (src/erasure/forget.ts): its pending, in-flight and
   * delivered values, its due entry and lease, in one atomic step, and suppresses it until
   * `untilMs` so no merge, restore or ack brings any of it back. Returns what was removed.
   */
  async forget(vk: string, untilMs: number, now = Date.now()): Promise<ForgottenValues> {
    const keys = this.keysOf(vk);
    const [pending = 0, inFlight = 0, delivered = 0, claimed = 0] = await this.redis.tiForget(
      keys.due,
      keys.root,
      vk,
      String(now),
      String(untilMs),
      // The event-id markers that name the visitor live at most two dedupe windows and an
      // eighth (src/coalesce/markers.ts); the lineage hides the visitor in them until then.
      String(now + 2 * this.settings.dedupeWindowMs + Math.ceil(this.settings.dedupeWindowMs / 8) + 1000),
    );
    return { pending, inFlight, delivered, claimed: claimed === 1 };
  }

  /** Does claim `claimId` still hold visitor `vk` (not acked, reissued or forgotten)? */
  async holds(claimId: string, vk: string): Promise<boolean> {
    return (await this.redis.hget(this.keysOf(vk).inFlight(vk), '_claim')) === claimId;
  }

  /**
   * The visitor keys among `vks` that are forgotten and still suppressed (see
   * {@link forget}): one ZMSCORE per shard. The members are SHA-1 hex of the keys, as
   * `redis.sha1hex` makes them in the scripts.
   */
  suppressedAmong(vks: readonly string[], now = Date.now()): Promise<Set<string>> {
    return this.listedAmong('suppressed', vks, now);
  }

  /**
   * The visitor keys among `vks` forgotten recently enough that event-id markers may still
   * name them (longer than the suppression when that is short): the lineage shows their
   * events without the visitor.
   */
  erasedAmong(vks: readonly string[], now = Date.now()): Promise<Set<string>> {
    return this.listedAmong('erased', vks, now);
  }

  private async listedAmong(list: 'suppressed' | 'erased', vks: readonly string[], now: number): Promise<Set<string>> {
    const found = new Set<string>();
    if (vks.length === 0) return found;
    await this.perShard(vks, async (keys, group) => {
      const scores = await this.redis.zmscore(
        `${keys.root}:${list}`,
        ...group.map((vk) => createHash('sha1').update(vk).digest('hex')),
      );
      group.forEach((vk, k) => {
        const until = scores[k];
        if (until !== null && until !== undefined && Number(until) > now) found.add(vk);
      });
      return group.map(() => undefined);
    });
    return found;
  }

  /** Lets go of visitors whose values were dead-lettered. */
  async release(claimId: string, vks: readonly string[], now = Date.now()): Promise<number> {
    if (vks.length === 0) return 0;
    const counts = await Promise.all(
      [...groupByShard(vks, (vk) => vk, this.shards.length)].map(([k, group]) => {
        const keys = this.shard(k);
        return this.redis.tiRelease(keys.due, keys.root, claimId, String(now), ...group.map((g) => g.item));
      }),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  /** Gives claimed visitors back, values and all, due again at `dueAt` (nothing was sent). */
  async unclaim(claimId: string, vks: readonly string[], dueAt: number): Promise<number> {
    if (vks.length === 0) return 0;
    const counts = await Promise.all(
      [...groupByShard(vks, (vk) => vk, this.shards.length)].map(([k, group]) => {
        const keys = this.shard(k);
        return this.redis.tiUnclaim(keys.due, keys.root, claimId, String(dueAt), ...group.map((g) => g.item));
      }),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  /** Claims whose lease ran out, as `{ vk, claimId }` (up to `limit` per shard). */
  async expiredLeases(limit: number, now = Date.now()): Promise<Array<{ vk: string; claimId: string }>> {
    const out: Array<{ vk: string; claimId: string }> = [];
    for (const keys of this.shards) {
      const flat = await this.redis.tiExpired(keys.due, keys.root, String(now), String(limit));
      for (let i = 0; i + 1 < flat.length; i += 2) out.push({ vk: flat[i] ?? '', claimId: flat[i + 1] ?? '' });
    }
    return out;
  }

  /**
   * Compare-and-set of a visitor's claim id, renewing its lease; true when switched. `thaw`
   * lets the new claim fold in newer values again (a bulk claim's frozen values handed to
   * single delivery).
   */
  async renewLease(
    vk: string,
    oldClaim: string,
    newClaim: string,
    now = Date.now(),
    options: { thaw?: boolean } = {},
  ): Promise<boolean> {
    return (await this.moveClaim(oldClaim, newClaim, [vk], now, options)).length === 1;
  }

  /**
   * `renewLease` for many visitors of one claim: returns those now held by `newClaim`, in
   * input order. One script call per shard and SCRIPT_CHUNK visitors, not a round trip per
   * visitor: the lease sweep and the reroutes between single and bulk move whole claims.
   */
  async moveClaim(
    oldClaim: string,
    newClaim: string,
    vks: readonly string[],
    now = Date.now(),
    options: { thaw?: boolean } = {},
  ): Promise<string[]> {
    if (vks.length === 0) return [];
    const thaw = options.thaw === true ? '1' : '0';
    const codes = await this.perShard(vks, async (keys, group) => {
      const out: Array<number | undefined> = [];
      for (let i = 0; i < group.length; i += SCRIPT_CHUNK) {
        const chunk = group.slice(i, i + SCRIPT_CHUNK);
        const replies = await this.redis.tiRenew(
          keys.due,
          keys.root,
          oldClaim,
          newClaim,
          String(now),
          String(this.settings.leaseMs),
          thaw,
          ...chunk,
        );
        // A reply shorter than the chunk leaves undefined codes: codeName below throws on them.
        out.push(...chunk.map((_, k) => replies[k]));
      }
      return out;
    });
    return vks.filter((_, i) => codeName('renew-lease', RENEW_CODES, codes[i]) === 'switched');
  }

  /** Counters kept by the merge script, summed over shards: `events_` applied, duplicate, late_dropped, superseded, replayed. */
  async stats(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const raw of await Promise.all(this.shards.map((keys) => this.redis.hgetall(keys.stats)))) {
      for (const [k, v] of Object.entries(raw)) out[k] = (out[k] ?? 0) + Number(v);
    }
    return out;
  }

  /** Visitors due now (coalescing window ended), per shard. */
  dueCounts(now = Date.now()): Promise<number[]> {
    return Promise.all(this.shards.map((keys) => this.redis.zcount(keys.due, '-inf', now)));
  }

  /** Visitors whose coalescing window has ended (due now), over all shards. */
  async dueCount(now = Date.now()): Promise<number> {
    return sum(await this.dueCounts(now));
  }

  /** Visitors waiting for their coalescing window to end. */
  async pendingVisitors(): Promise<number> {
    return sum(await Promise.all(this.shards.map((keys) => this.redis.zcard(keys.due))));
  }

  /** Visitors claimed by a delivery that has not finished. */
  async inFlightVisitors(): Promise<number> {
    return sum(await Promise.all(this.shards.map((keys) => this.redis.zcard(keys.leases))));
  }

  /**
   * {@link pendingVisitors} and {@link inFlightVisitors} read together, in one MULTI per
   * shard, so a visitor moving between the two is never missed. Read one after the other,
   * both can be 0 while values wait: a visitor held by a delivery leaves the due index when
   * a claim pass finds it held, and its ack puts it back (newer values pending) as it drops
   * its lease; an ack between the two reads hides it from both. Both 0 here means nothing
   * is pending or in flight: a pending value always has a due entry or a lease.
   */
  async backlog(): Promise<{ pending: number; inFlight: number }> {
    const counts = await Promise.all(
      this.shards.map(async (keys) => {
        const exec = await this.redis.multi().zcard(keys.due).zcard(keys.leases).exec();
        // null: the transaction was aborted. Never report that as "nothing left".
        if (exec === null) throw new Error('backlog: MULTI aborted');
        const replies = settled<number>(exec);
        return { pending: replies[0] ?? 0, inFlight: replies[1] ?? 0 };
      }),
    );
    return { pending: sum(counts.map((c) => c.pending)), inFlight: sum(counts.map((c) => c.inFlight)) };
  }
}
