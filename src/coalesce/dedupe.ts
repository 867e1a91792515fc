import { QUEUE_NAMES, INTAKE_JOB_ID_PREFIX, bullPrefix } from '../jobs/catalog.js';
import { storeKeys } from '../redis/keys.js';
import type { RedisClient } from '../redis/connection.js';
import {
  MARKER_EXPIRY_SPREAD,
  markerBucket,
  markerExpiresAt,
  markerField,
  markerGeneration,
  markerSeed,
} from './markers.js';
import { groupByShard } from '../redis/shards.js';
import { withStoreCommands, type StoreCommands } from './store-scripts.js';

/** One event id to look up, with the visitor key that decides its shard. */
export interface MarkRef {
  id: string;
  vk: string;
}

/** What one {@link IntakeMarks.claim} found. */
export interface Claim {
  /** Per id, in order: true when it was taken in or applied before (a duplicate). */
  seen: boolean[];
  /** Number of the first job to store the fresh ids in (see marks-claim.lua); 0 when none is fresh. */
  firstJob: number;
}

/**
 * Intake's view of the per-source event-id markers (layout: src/coalesce/markers.ts). The
 * merge script marks an id `a` (applied) in the same atomic step as the merge, and only `a`
 * makes the merge skip an event; intake's own markers let it tell a producer "duplicate"
 * for a resend of an event it took in, while the effect is still decided once, atomically
 * (P2). A marker lives in the shard of its event's visitor (where the merge script reads it).
 *
 * With one shard (the default) intake dedupes a request in one script call,
 * {@link IntakeMarks.claim}, before storing its jobs: fresh ids are marked with the number of
 * their job, and such a marker counts only while the job exists, so a job that was never
 * stored leaves no id marked as seen (P1). With several shards the queue's keys live in
 * another slot than the markers, so intake looks ids up per shard ({@link alreadySeen}),
 * stores the jobs, then marks the ids `t` per shard ({@link markTaken}); a crash in between
 * makes a resend count as new at intake, and the merge's own dedupe still applies it once.
 * (The ids of a batch fall in hundreds of buckets: one command per bucket instead of one
 * script call per shard cost intake a third of its rate.)
 */
export class IntakeMarks {
  private readonly redis: RedisClient & StoreCommands;
  private readonly shards: ReadonlyArray<ReturnType<typeof storeKeys>>;

  constructor(
    redis: RedisClient,
    prefix: string,
    private readonly windowMs: number,
    shards = 1,
  ) {
    this.redis = withStoreCommands(redis);
    this.shards = Array.from({ length: shards }, (_, k) => storeKeys(prefix, k, shards));
    this.jobKeyPrefix = `${bullPrefix(prefix)}:${QUEUE_NAMES.ingest}:${INTAKE_JOB_ID_PREFIX}`;
  }

  private readonly jobKeyPrefix: string;

  /** How many shards hold markers; {@link claim} needs exactly one. */
  get shardCount(): number {
    return this.shards.length;
  }

  /**
   * One shard only: which ids (of one source, distinct) were seen, marking the others as
   * taken in by the jobs about to be stored, `eventsPerJob` fresh ids per job, in order.
   * One script call (src/coalesce/lua/marks-claim.lua). The ids must be valid event ids
   * (envelope.ts): they hold no control characters, so line feeds separate them.
   */
  async claim(source: string, ids: readonly string[], eventsPerJob: number, now = Date.now()): Promise<Claim> {
    if (this.shards.length !== 1) throw new Error('IntakeMarks.claim needs one shard; use alreadySeen and markTaken');
    if (ids.length === 0) return { seen: [], firstJob: 0 };
    const keys = this.keysOf(0);
    const generation = markerGeneration(now, this.windowMs);
    const seed = markerSeed(source);
    const buckets = new Array<number>(ids.length);
    for (let i = 0; i < ids.length; i += 1) buckets[i] = markerBucket(source, ids[i] ?? '', seed);
    const reply = await this.redis.tiMarksClaim(
      keys.due,
      keys.root,
      String(generation),
      String(this.windowMs),
      String(now),
      String(MARKER_EXPIRY_SPREAD),
      source,
      this.jobKeyPrefix,
      keys.intakeJobs,
      String(eventsPerJob),
      String(ids.length),
      buckets.join(','),
      ids.join('\n'),
    );
    const [firstJob, flags] = reply;
    const seen = new Array<boolean>(ids.length);
    for (let i = 0; i < ids.length; i += 1) seen[i] = flags.charCodeAt(i) === SEEN_FLAG;
    return { seen, firstJob };
  }

  private keysOf(shard: number): ReturnType<typeof storeKeys> {
    const keys = this.shards[shard];
    if (keys === undefined) throw new Error(`no shard ${shard}`);
    return keys;
  }

  /** Which of these ids were already taken in (or applied) for this source. */
  async alreadySeen(source: string, refs: readonly MarkRef[], now = Date.now()): Promise<boolean[]> {
    if (refs.length === 0) return [];
    const out = new Array<boolean>(refs.length).fill(false);
    const generation = markerGeneration(now, this.windowMs);
    const seed = markerSeed(source);
    await Promise.all(
      [...groupByShard(refs, (r) => r.vk, this.shards.length)].map(async ([shard, group]) => {
        const keys = this.keysOf(shard);
        const args = [keys.due, keys.root, String(generation)];
        for (const { item } of group)
          args.push(String(markerBucket(source, item.id, seed)), markerField(source, item.id));
        const seen = await this.redis.tiMarksSeen(...args);
        group.forEach((g, i) => {
          out[g.index] = seen[i] === 1;
        });
      }),
    );
    return out;
  }

  /** Marks ids as taken in; never downgrades an `a` marker the merge already wrote. */
  async markTaken(source: string, refs: readonly MarkRef[], now = Date.now()): Promise<void> {
    if (refs.length === 0) return;
    const generation = markerGeneration(now, this.windowMs);
    const seed = markerSeed(source);
    await Promise.all(
      [...groupByShard(refs, (r) => r.vk, this.shards.length)].map(async ([shard, group]) => {
        const keys = this.keysOf(shard);
        const args = [keys.due, keys.root, String(generation)];
        for (const { item } of group) {
          const bucket = markerBucket(source, item.id, seed);
          // A TTL relative to this process's clock, as the merge gives it.
          args.push(
            String(bucket),
            markerField(source, item.id),
            String(markerExpiresAt(generation, bucket, this.windowMs) - now),
          );
        }
        await this.redis.tiMarksTake(...args);
      }),
    );
  }
}

/** marks-claim.lua's flag of an id seen before: the character '1'. */
const SEEN_FLAG = 0x31;
