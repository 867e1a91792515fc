import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import { parseVisitorKey } from '../events/index.js';
import type { Logger } from '../logger.js';
import type { BulkStatusJob, DeliverJob, IngestJob } from '../jobs/catalog.js';
import { deliverJobName } from '../jobs/names.js';
import type { CallBudget } from '../quota/budgets.js';
import {
  bulkPaceMs,
  bulkRoom,
  nothingToGather,
  pacingEngaged,
  tailReserveCalls,
  type BulkLoad,
  type CallPacer,
} from '../quota/pacer.js';
import { ArrivalWatch } from './arrivals.js';
import { routeVisitors, type DeliveryMode } from './routing.js';
import type { VisitorStore } from '../coalesce/store.js';

/**
 * Most claims one flush tick makes (FLUSH_BATCH_SIZE visitors each): under a flood a tick
 * ends after this many and the next tick goes on, so one job never holds the flush queue long.
 */
export const MAX_CLAIMS_PER_FLUSH = 50;

export interface FlusherDeps {
  store: VisitorStore;
  queues: {
    deliverSingle: Queue<DeliverJob>;
    deliverBulk: Queue<DeliverJob>;
    bulkStatus: Queue<BulkStatusJob>;
    /** Ingest jobs not merged yet are visitors still to come: the pacer waits for them. */
    ingest?: Queue<IngestJob>;
  };
  singleBudget: CallBudget;
  bulkBudget: CallBudget;
  /**
   * Lets at most one bulk file that is not full (a bulk claim with fewer due visitors than
   * `bulkBatchSize`, or the bulk share of a small claim) start per interval across all
   * flushers, so visitors gather instead of each flush spending a bulk call and its status
   * polls on a few rows.
   */
  bulkPacer: CallPacer;
  mode: DeliveryMode;
  /** Visitors per single-delivery claim. */
  batchSize: number;
  /** Visitors per bulk claim (one bulk file per identity kind). */
  bulkBatchSize: number;
  /** In auto mode, this many due visitors or more go by bulk. */
  bulkThreshold: number;
  /** How long a visitor handed back for lack of bulk budget waits before it is due again. */
  bulkRetryMs: number;
  /** COALESCE_WINDOW_MS: visitors merged now are due this much later (see ArrivalWatch). */
  windowMs: number;
  /** Most claims one flush makes, so one tick cannot run for ever under a flood. */
  maxClaimsPerFlush?: number;
  /** BULK_MAX_CLAIMS_IN_FLIGHT: bulk claims between claim and `complete` at once (default 10). */
  maxBulkClaimsInFlight?: number;
  logger: Logger;
}

export interface FlushResult {
  claimed: number;
  single: number;
  bulk: number;
  reissued: number;
}

/** Job states in which a claim's job will still run. */
const LIVE_STATES = new Set(['active', 'waiting', 'delayed', 'prioritized', 'waiting-children']);

/**
 * Claims due visitors, routes them to single or bulk delivery, and creates their jobs. Each
 * job's id is its claim id (at most one job per queue per claim), so the job that owns a
 * claim can always be found: a claim whose lease runs out without a live job (its flusher
 * died between claim and job creation) moves to a new claim and job (P7).
 */
export class Flusher {
  /** Shard the next claim starts with, so no shard always goes first. */
  private nextShard = 0;
  /** Whether visitors are still coming, for the calls kept back for the last claim. */
  private readonly arrivals: ArrivalWatch;

  constructor(private readonly deps: FlusherDeps) {
    this.arrivals = new ArrivalWatch(deps.windowMs, deps.bulkBudget.settings.windowMs);
  }

  /**
   * Claims due visitors and creates their delivery jobs. With several shards, one claim
   * takes visitors from the shards in turn (starting one shard further each time) until it
   * is full, so a claim, a job and a bulk file hold as many visitors as with one shard.
   */
  async flushOnce(now = Date.now()): Promise<FlushResult> {
    const result: FlushResult = { claimed: 0, single: 0, bulk: 0, reissued: await this.sweepExpiredLeases(now) };
    const maxClaims = this.deps.maxClaimsPerFlush ?? MAX_CLAIMS_PER_FLUSH;
    const shards = this.deps.store.shards.length;
    for (let i = 0; i < maxClaims; i += 1) {
      const dues = await this.deps.store.dueCounts(now);
      const due = dues.reduce((a, b) => a + b, 0);
      if (due === 0) break;
      let goesBulk = this.deps.mode === 'bulk' || (this.deps.mode === 'auto' && due >= this.deps.bulkThreshold);
      const paced = goesBulk && due < this.deps.bulkBatchSize;
      /** Auto mode with bulk saturated: a single-size claim, routed visitor by visitor. */
      let bulkFull = false;
      /** This pass took the pacer's gate (not when it went without it: nothing to gather). */
      let tookGate = false;
      /** The latest due time this claim takes: later for a flood's last claim (see below). */
      let dueBy = now;
      if (goesBulk) {
        const load = await this.bulkLoad(now);
        // Bulk calls are few (50 a minute) and batches take minutes to hours at Target: while
        // the budget is low, or BULK_MAX_CLAIMS_IN_FLIGHT claims are with Target, due
        // visitors wait and gather, so the next bulk claim carries more of them instead of
        // starting a tiny file. In auto mode the visitors Target knows keep flowing by single
        // updates meanwhile; the others wait for bulk. While visitors are still coming, the
        // calls of one more claim are kept for the last of them.
        if (this.roomNow(load, now) !== 'room') {
          this.deps.logger.debug({ due, ...load }, 'bulk claim waits: no room in the bulk budget');
          if (this.deps.mode !== 'auto') break;
          bulkFull = true;
          goesBulk = false;
        } else if (paced) {
          // And a bulk file that would not be full starts at most once per pacer interval:
          // the due visitors stay due and gather, instead of every flush tick spending a bulk
          // call (and its status polls) until the minute's budget is gone and everything waits.
          const pace = await this.paceWaitMs(load, due, now);
          tookGate = pace.tookGate;
          // A flood's last claim also takes the visitors handed back to wait for bulk budget
          // (due within bulkRetryMs): nothing else is coming for them to wait for, and left
          // behind they waited for the next claim, which found the budget spent (a run of the
          // 1,000,000-event bench sent its last 6,800 visitors 12 s after the last claim).
          if (pace.tail) dueBy = now + this.deps.bulkRetryMs;
          const waitMs = pace.waitMs;
          if (waitMs > 0) {
            this.deps.logger.debug({ due, waitMs, ...load }, 'bulk claim waits for the pacer');
            break;
          }
        }
      }
      const size = goesBulk ? this.deps.bulkBatchSize : this.deps.batchSize;
      const claimId = randomUUID();
      const visitors: string[] = [];
      const first = this.nextShard % shards;
      this.nextShard = (first + 1) % shards;
      for (let j = 0; j < shards && visitors.length < size; j += 1) {
        const shard = (first + j) % shards;
        if ((dues[shard] ?? 0) > 0 || dueBy > now)
          visitors.push(...(await this.deps.store.claimDue(claimId, size - visitors.length, now, shard, dueBy)));
      }
      if (visitors.length === 0) {
        // Every due visitor was held by an earlier delivery: the pass bought nothing.
        if (tookGate) await this.deps.bulkPacer.release();
        break;
      }
      const routed = await this.dispatch(claimId, visitors, goesBulk, bulkFull);
      result.claimed += visitors.length;
      result.single += routed.single;
      result.bulk += routed.bulk;
      // With bulk full, a claim that moved nothing by single means the rest waits for bulk.
      if (visitors.length < size || (bulkFull && routed.single === 0)) break;
    }
    if (result.claimed > 0 || result.reissued > 0) this.deps.logger.debug({ ...result }, 'flushed');
    return result;
  }

  /**
   * The bulk budget's use and the bulk claims in flight (queued for submitting, or being
   * polled); read with the ingest jobs not merged yet and the merge's count of applied events,
   * for the watch on visitors still coming.
   */
  private async bulkLoad(now: number): Promise<BulkLoad> {
    const states = ['waiting', 'active', 'delayed', 'prioritized'] as const;
    const [budget, submitting, polling, unmerged, stats] = await Promise.all([
      this.deps.bulkBudget.peek(),
      this.deps.queues.deliverBulk.getJobCountByTypes(...states),
      this.deps.queues.bulkStatus.getJobCountByTypes(...states),
      // Not 'delayed': a job waiting out a retry's backoff (up to minutes) brings nothing soon.
      this.deps.queues.ingest?.getJobCountByTypes('waiting', 'active', 'prioritized') ?? 0,
      this.deps.store.stats(),
    ]);
    this.arrivals.observe(now, { unmerged, applied: stats.events_applied ?? 0 });
    return {
      used: budget.used,
      limit: this.deps.bulkBudget.settings.limit,
      claimsInFlight: submitting + polling,
      paused: budget.pausedForMs > 0,
    };
  }

  /**
   * `waitMs` 0 when a bulk file that is not full may start now (it passed the pacer, or
   * there is nothing left for it to wait for), else how long until the pacer's gate opens;
   * `tookGate` when it passed the gate (and closed it for the next), so only such a pass is
   * given back when it claims nothing: a gate it did not take may be another flusher's; `tail`
   * when it is a flood's last claim ({@link ArrivalWatch.tailGoes}). `due`: the visitors due
   * now that this claim takes, so the rest of the due index is visitors still in their window.
   */
  private async paceWaitMs(
    load: BulkLoad,
    due: number,
    now: number,
    mayTakeTail = true,
  ): Promise<{ waitMs: number; tookGate: boolean; tail?: boolean }> {
    if (mayTakeTail && this.arrivals.tailGoes(now)) {
      this.arrivals.takeTail(now);
      // The gate a claim closed while the flood was coming (stretched, as the budget ran
      // short) would hold back the visitors its deliveries in flight hold: they come due as
      // those end, and in the tail the gate closes for a quarter interval (paceMs). So a
      // longer gate is cut to that (never lengthened, never deleted: it may be another
      // flusher's).
      await this.deps.bulkPacer.shorten(this.deps.bulkPacer.intervalMs / 4);
      return { waitMs: 0, tookGate: false, tail: true };
    }
    if (!pacingEngaged(load)) {
      const [pending, unmerged] = await Promise.all([
        this.deps.store.pendingVisitors(),
        this.deps.queues.ingest?.getJobCountByTypes('waiting', 'active', 'delayed', 'prioritized') ?? 0,
      ]);
      if (nothingToGather(pending - due, unmerged)) return { waitMs: 0, tookGate: false };
    }
    const pass = await this.deps.bulkPacer.tryPass(this.paceMs(load, now));
    return { waitMs: pass.retryInMs, tookGate: pass.passed };
  }

  /**
   * How long a pass for a bulk file that is not full closes the pacer's gate: a quarter
   * interval in a flood's tail (nothing new is coming, so the calls are not spread for it;
   * the visitors its deliveries held come due in groups as those end), else by the budget.
   */
  private paceMs(load: BulkLoad, now: number): number {
    if (this.arrivals.inTail(now)) return this.deps.bulkPacer.intervalMs / 4;
    return bulkPaceMs(load, this.deps.bulkPacer.intervalMs, this.deps.bulkBudget.settings.windowMs);
  }

  /**
   * Room for another bulk claim: fewer than BULK_MAX_CLAIMS_IN_FLIGHT claims in flight (a
   * claim has one live job at a time: its deliver-bulk job, then its bulk-status job), and
   * budget for it besides the polls the claims in flight still owe.
   */
  private hasBulkRoom(load: BulkLoad, reserve = 0): boolean {
    return load.claimsInFlight < (this.deps.maxBulkClaimsInFlight ?? 10) && bulkRoom(load, reserve);
  }

  /**
   * {@link hasBulkRoom} with the calls of the last claim kept back while visitors are still
   * coming ({@link tailReserveCalls}): 'room', 'kept' when only the calls kept back stand in
   * the way (noted in the watch), 'none' otherwise.
   */
  private roomNow(load: BulkLoad, now: number): 'room' | 'kept' | 'none' {
    const reserve = this.arrivals.stillComing(now) ? tailReserveCalls(load.limit) : 0;
    if (this.hasBulkRoom(load, reserve)) return 'room';
    if (reserve === 0 || !this.hasBulkRoom(load)) return 'none';
    this.arrivals.heldBack(now);
    return 'kept';
  }

  /**
   * How long visitors handed back for lack of bulk room wait: when only the calls kept for
   * the flood's last claim held them back, until the flood may be over, so they are due for
   * that claim; else `bulkRetryMs`.
   */
  private handBackMs(room: 'kept' | 'none', now: number): number {
    if (room === 'none') return this.deps.bulkRetryMs;
    return Math.min(this.deps.bulkRetryMs, Math.max(1, this.arrivals.quietAt() - now));
  }

  /**
   * Routes one claim's visitors and adds at most one job per delivery queue for it.
   * `bulkFull`: no bulk claim may start now, so the size of the claim says nothing (a
   * single-size claim of a large backlog): each visitor goes by its own route.
   */
  private async dispatch(
    claimId: string,
    vks: string[],
    allBulk: boolean,
    bulkFull = false,
  ): Promise<{ single: number; bulk: number }> {
    let routes: Array<'single' | 'bulk'>;
    if (allBulk) {
      routes = vks.map(() => 'bulk');
    } else {
      const [known, budget] = await Promise.all([this.deps.store.knownVisitors(vks), this.deps.singleBudget.peek()]);
      routes = routeVisitors({
        mode: this.deps.mode,
        visitors: vks.map((vk, i) => ({ ref: parseVisitorKey(vk), known: known[i] === true })),
        bulkThreshold: bulkFull ? Infinity : this.deps.bulkThreshold,
        single: { limit: this.deps.singleBudget.settings.limit, used: budget.used, usedLastHour: budget.recent },
      });
    }
    const single = vks.filter((_, i) => routes[i] === 'single');
    let bulk = vks.filter((_, i) => routes[i] === 'bulk');
    if (!allBulk && bulk.length > 0) {
      // A small flush's bulk share (visitors Target may not know) waits for room in the
      // bulk budget, and for its turn at the pacer, rather than spending a bulk call on a
      // handful of rows: the visitors it hands back gather with the next ones.
      const now = Date.now();
      const load = await this.bulkLoad(now);
      const room = this.roomNow(load, now);
      // Never the flood's last claim: this one was made without the visitors handed back.
      const waitMs = room !== 'room' ? this.handBackMs(room, now) : (await this.paceWaitMs(load, 0, now, false)).waitMs;
      if (waitMs > 0) {
        await this.deps.store.unclaim(claimId, bulk, now + waitMs);
        bulk = [];
      }
    }
    if (single.length > 0)
      await this.deps.queues.deliverSingle.add(
        deliverJobName('single', single.length),
        { claimId, visitors: single },
        { jobId: claimId },
      );
    if (bulk.length > 0)
      await this.deps.queues.deliverBulk.add(
        deliverJobName('bulk', bulk.length),
        { claimId, visitors: bulk },
        { jobId: claimId },
      );
    return { single: single.length, bulk: bulk.length };
  }

  /** Is any job of this claim still going to run (delivery, bulk delivery or status polling)? */
  private async claimAlive(claimId: string): Promise<string> {
    if (claimId === '') return 'unknown';
    for (const queue of [
      this.deps.queues.deliverSingle,
      this.deps.queues.deliverBulk,
      this.deps.queues.bulkStatus,
    ] as Queue[]) {
      const state = await queue.getJobState(claimId);
      if (LIVE_STATES.has(state)) return state;
    }
    return 'unknown';
  }

  /** Renews leases of claims whose job is alive; moves the others to a new claim and job. */
  private async sweepExpiredLeases(now: number): Promise<number> {
    const expired = await this.deps.store.expiredLeases(1000, now);
    if (expired.length === 0) return 0;
    const byClaim = new Map<string, string[]>();
    for (const { vk, claimId } of expired) byClaim.set(claimId, [...(byClaim.get(claimId) ?? []), vk]);
    let reissued = 0;
    for (const [oldClaim, vks] of byClaim) {
      const state = await this.claimAlive(oldClaim);
      const alive = LIVE_STATES.has(state);
      const newClaim = alive ? oldClaim : randomUUID();
      // One script call per shard for the claim's visitors, not a round trip each.
      const moved = await this.deps.store.moveClaim(oldClaim, newClaim, vks, now);
      if (!alive && moved.length > 0) {
        await this.dispatch(newClaim, moved, this.deps.mode === 'bulk');
        reissued += moved.length;
        this.deps.logger.warn(
          { oldClaim, newClaim, visitors: moved.length },
          'claim lease expired without a live delivery job: reissued',
        );
      }
    }
    return reissued;
  }
}
