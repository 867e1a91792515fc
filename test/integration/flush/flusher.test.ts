import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Flusher } from '../../../src/flush/flusher.js';
import { VisitorStore } from '../../../src/coalesce/store.js';
import type { ValidEvent } from '../../../src/events/index.js';
import { createLogger } from '../../../src/logger.js';
import {
  QUEUE_NAMES,
  bullPrefix,
  type BulkStatusJob,
  type DeliverJob,
  type IngestJob,
} from '../../../src/jobs/catalog.js';
import { createBudgets } from '../../../src/quota/budgets.js';
import { CallPacer } from '../../../src/quota/pacer.js';
import type { DeliveryMode } from '../../../src/flush/routing.js';
import { deletePrefix, newRedis, uniquePrefix } from '../../harness/context.js';
import { countScriptCalls } from '../../harness/script-calls.js';
import { RENEW_LEASE } from '../../../src/coalesce/lua.js';

const PACE_MS = 1500;
const LEASE_MS = 30_000;
const BULK_BATCH = 150;
const MAX_CLAIMS = 5;

function newVisitorEvent(n: number, at: number): ValidEvent {
  return {
    id: `e${n}`,
    type: 'test',
    occurredAtMs: at,
    visitor: { kind: 'thirdPartyId', id: `CRM-${n}` },
    attributes: { tier: `t${n}` },
  };
}

describe('Flusher (two flushers on one Redis)', () => {
  let redis: Redis;
  let other: Redis;
  let prefix: string;
  let queues: {
    deliverSingle: Queue<DeliverJob>;
    deliverBulk: Queue<DeliverJob>;
    bulkStatus: Queue<BulkStatusJob>;
    ingest: Queue<IngestJob>;
  };
  let flushers: Flusher[];
  /** A flusher on `connection`; `windowMs` as COALESCE_WINDOW_MS for its watch on arrivals. */
  let newFlusher: (connection: Redis, windowMs?: number, bulkPerMinute?: number, mode?: DeliveryMode) => Flusher;
  let store: VisitorStore;

  beforeEach(() => {
    redis = newRedis();
    other = newRedis();
    prefix = uniquePrefix('pace');
    const bull = bullPrefix(prefix);
    queues = {
      deliverSingle: new Queue<DeliverJob>(QUEUE_NAMES.deliverSingle, { connection: redis, prefix: bull }),
      deliverBulk: new Queue<DeliverJob>(QUEUE_NAMES.deliverBulk, { connection: redis, prefix: bull }),
      bulkStatus: new Queue<BulkStatusJob>(QUEUE_NAMES.bulkStatus, { connection: redis, prefix: bull }),
      ingest: new Queue<IngestJob>(QUEUE_NAMES.ingest, { connection: redis, prefix: bull }),
    };
    const settings = {
      prefix,
      coalesceWindowMs: 10,
      dedupeWindowMs: 60_000,
      deliveredRetentionMs: 60_000,
      leaseMs: LEASE_MS,
    };
    store = new VisitorStore(redis, settings);
    // Two flushers on two connections: the gate is in Redis, not in one process.
    newFlusher = (connection, windowMs = settings.coalesceWindowMs, bulkPerMinute = 50, mode = 'auto') => {
      const budgets = createBudgets(connection, prefix, { singlePerDay: 1_000_000, bulkPerMinute });
      return new Flusher({
        store: new VisitorStore(connection, settings),
        queues,
        singleBudget: budgets.single,
        bulkBudget: budgets.bulk,
        bulkPacer: new CallPacer(connection, prefix, 'bulk', PACE_MS),
        mode,
        batchSize: 200,
        bulkBatchSize: BULK_BATCH,
        bulkThreshold: 100,
        bulkRetryMs: 5000,
        windowMs,
        maxBulkClaimsInFlight: MAX_CLAIMS,
        logger: createLogger({ level: 'silent', pretty: false }),
      });
    };
    flushers = [redis, other].map((connection) => newFlusher(connection));
  });
  afterEach(async () => {
    await Promise.all(Object.values(queues).map((q) => q.close()));
    await deletePrefix(redis, prefix);
    await redis.quit();
    await other.quit();
  });

  /** Visitors handed back to wait for bulk are due again now (the wait has passed). */
  async function makeDue(vks: string[], at: number): Promise<void> {
    await redis.zadd(store.keys.due, ...vks.flatMap((vk) => [at, vk]));
  }

  /**
   * A visitor still in its coalescing window: a small bulk file has something to wait for at
   * the pacer (with nothing left to gather it goes at once while under half of the budget is
   * committed; see the tests below).
   */
  async function oneStillInWindow(): Promise<void> {
    await redis.zadd(store.keys.due, Date.now() + 60_000, '3p:CRM-IN-WINDOW');
  }

  /** `count` visitors Target does not know yet (CRM-<first>…), one event each, due now. */
  async function mergeNewVisitors(first: number, count: number, at: number): Promise<void> {
    await store.merge(
      'pos',
      Array.from({ length: count }, (_, i) => newVisitorEvent(first + i, at)),
      at - 1000,
    );
  }

  async function bulkJobs(): Promise<string[][]> {
    const jobs = await queues.deliverBulk.getJobs(['waiting']);
    return jobs.map((j) => [...j.data.visitors].sort());
  }

  // Visitors Target may not know yet go by bulk even in a small flush; the pacer makes them
  // gather into one file per interval instead of one file (and one status poll) per flush.
  it('starts one small bulk file per interval; the visitors held back go together in the next', async () => {
    const [a, b] = flushers as [Flusher, Flusher];
    const t0 = Date.now();
    await oneStillInWindow();
    await store.merge('pos', [newVisitorEvent(1, t0), newVisitorEvent(2, t0)], t0 - 1000);
    expect((await a.flushOnce()).bulk).toBe(2);

    // New visitors arrive inside the interval: the other flusher claims them, hands them back.
    await store.merge('pos', [newVisitorEvent(3, t0)], t0 - 1000);
    expect((await b.flushOnce()).bulk).toBe(0);
    await store.merge('pos', [newVisitorEvent(4, t0)], t0 - 1000);
    expect((await a.flushOnce()).bulk).toBe(0);
    expect(await bulkJobs()).toEqual([['3p:CRM-1', '3p:CRM-2']]);
    // Handed back, not lost: due again when the gate opens, not before.
    await redis.zrem(store.keys.due, '3p:CRM-IN-WINDOW');
    const due = await redis.zrange(store.keys.due, '0', '-1', 'WITHSCORES');
    expect(due.filter((_, i) => i % 2 === 0).sort()).toEqual(['3p:CRM-3', '3p:CRM-4']);
    for (const score of due.filter((_, i) => i % 2 === 1)) {
      expect(Number(score)).toBeGreaterThan(Date.now());
      expect(Number(score)).toBeLessThanOrEqual(t0 + PACE_MS + 1000);
    }

    await new Promise((r) => setTimeout(r, PACE_MS + 100));
    expect((await b.flushOnce()).bulk).toBe(2);
    expect(await bulkJobs()).toContainEqual(['3p:CRM-3', '3p:CRM-4']);
    expect(await bulkJobs()).toHaveLength(2);
  });

  it('paces at a quarter of the interval while most of the bulk budget is unused, and longer than the interval once half is committed', async () => {
    const [a, b] = flushers as [Flusher, Flusher];
    const t0 = Date.now();
    const handedBackWait = async (vk: string): Promise<number> =>
      Number(await redis.zscore(store.keys.due, vk)) - Date.now();
    await oneStillInWindow();
    await store.merge('pos', [newVisitorEvent(1, t0)], t0 - 1000);
    expect((await a.flushOnce()).bulk).toBe(1);
    await store.merge('pos', [newVisitorEvent(2, t0)], t0 - 1000);
    expect((await b.flushOnce()).bulk).toBe(0);
    expect(await handedBackWait('3p:CRM-2')).toBeLessThanOrEqual(PACE_MS / 4);

    // 13 of the 50 bulk calls used, one claim in flight: 15 committed, under half. The
    // gate still closes for a quarter of the interval only.
    const budget = createBudgets(redis, prefix, { singlePerDay: 1_000_000, bulkPerMinute: 50 }).bulk;
    expect((await budget.reserve(13)).granted).toBe(true);
    await new Promise((r) => setTimeout(r, PACE_MS / 4 + 100));
    expect((await a.flushOnce()).bulk).toBe(1);
    await store.merge('pos', [newVisitorEvent(3, t0)], t0 - 1000);
    expect((await b.flushOnce()).bulk).toBe(0);
    expect(await handedBackWait('3p:CRM-3')).toBeLessThanOrEqual(PACE_MS / 4);

    // 10 more: 23 spent + 2 × 2 polls owed = 27 committed, past half: 50 / 23 intervals.
    expect((await budget.reserve(10)).granted).toBe(true);
    await new Promise((r) => setTimeout(r, PACE_MS / 4 + 100));
    expect((await a.flushOnce()).bulk).toBe(1);
    await store.merge('pos', [newVisitorEvent(4, t0)], t0 - 1000);
    expect((await b.flushOnce()).bulk).toBe(0);
    expect(await handedBackWait('3p:CRM-4')).toBeGreaterThan(PACE_MS);
  });

  // The last visitors of a burst: the gate would make them wait for nobody.
  it('lets a small bulk file go at once when nothing is left to gather, while under half of the budget is committed', async () => {
    const [a, b] = flushers as [Flusher, Flusher];
    const t0 = Date.now();
    await store.merge('pos', [newVisitorEvent(1, t0)], t0 - 1000);
    expect((await a.flushOnce()).bulk).toBe(1);
    // Inside the interval, nothing in its window, no ingest job waiting: no wait.
    await store.merge('pos', [newVisitorEvent(2, t0)], t0 - 1000);
    expect((await b.flushOnce()).bulk).toBe(1);
    // The same as a bulk claim of its own (DELIVERY_MODE bulk takes the other branch).
    await mergeNewVisitors(100, 120, t0);
    expect((await a.flushOnce()).bulk).toBe(120);
    expect(await bulkJobs()).toHaveLength(3);

    // An ingest job not merged yet holds visitors to come: the gate applies again. None of
    // the files above took it, so the first passes and closes it; the next waits.
    await queues.ingest.add('batch', { source: 'pos', receivedAt: t0, events: [] });
    await store.merge('pos', [newVisitorEvent(3, t0)], t0 - 1000);
    expect((await b.flushOnce()).bulk).toBe(1);
    await store.merge('pos', [newVisitorEvent(4, t0)], t0 - 1000);
    expect((await a.flushOnce()).bulk).toBe(0);
    expect(Number(await redis.zscore(store.keys.due, '3p:CRM-4'))).toBeGreaterThan(Date.now());
  });

  it('gives back only a pacer gate it took: a pass without the gate that claims nothing leaves the gate closed', async () => {
    const [a, b] = flushers as [Flusher, Flusher];
    const t0 = Date.now();
    await oneStillInWindow();
    // 120 due: a bulk claim (threshold 100) of a file that is not full (150): paced.
    const vks = Array.from({ length: 120 }, (_, i) => `3p:CRM-${100 + i}`);
    await mergeNewVisitors(100, vks.length, t0);
    expect((await a.flushOnce()).bulk).toBe(120); // through the gate, which stays closed
    await redis.zrem(store.keys.due, '3p:CRM-IN-WINDOW');
    // Due again while their delivery runs (held): the next pass has nothing to gather, goes
    // without the gate, and claims nothing.
    await makeDue(vks, t0 - 1000);
    expect((await b.flushOnce()).claimed).toBe(0);
    expect((await new CallPacer(redis, prefix, 'bulk', PACE_MS).tryPass()).passed).toBe(false);
  });

  it('paces a small bulk file with nothing left to gather once half of the budget is committed', async () => {
    const [a, b] = flushers as [Flusher, Flusher];
    const t0 = Date.now();
    // 24 spent: the first file goes without the gate (24 committed, under half). After it,
    // 24 + 2 polls owed = 26 of 50: pacing engaged, so the second passes the gate and closes
    // it past the interval, and the third waits, with nothing left to gather all along.
    expect(
      (await createBudgets(redis, prefix, { singlePerDay: 1_000_000, bulkPerMinute: 50 }).bulk.reserve(24)).granted,
    ).toBe(true);
    for (const n of [1, 2]) {
      await store.merge('pos', [newVisitorEvent(n, t0)], t0 - 1000);
      expect((await (n === 1 ? a : b).flushOnce()).bulk).toBe(1);
    }
    await store.merge('pos', [newVisitorEvent(3, t0)], t0 - 1000);
    expect((await a.flushOnce()).bulk).toBe(0);
    expect(Number(await redis.zscore(store.keys.due, '3p:CRM-3')) - Date.now()).toBeGreaterThan(PACE_MS);
  });

  it('counts the polls that claims in flight still owe: under half spent, but claims polling, paces past the interval', async () => {
    const [a, b] = flushers as [Flusher, Flusher];
    const t0 = Date.now();
    for (let k = 0; k < 3; k += 1) {
      await queues.bulkStatus.add('poll', { claimId: `c${k}`, batches: [] }, { jobId: `c${k}`, delay: 60_000 });
    }
    // 21 calls spent (under half of 50) + 3 claims × 2 polls owed = 27 committed, more than
    // half (and 4 claims in flight after the next one, under BULK_MAX_CLAIMS_IN_FLIGHT).
    expect(
      (await createBudgets(redis, prefix, { singlePerDay: 1_000_000, bulkPerMinute: 50 }).bulk.reserve(21)).granted,
    ).toBe(true);
    await store.merge('pos', [newVisitorEvent(1, t0)], t0 - 1000);
    expect((await a.flushOnce()).bulk).toBe(1);
    await store.merge('pos', [newVisitorEvent(2, t0)], t0 - 1000);
    expect((await b.flushOnce()).bulk).toBe(0);
    // The pacer's gate (50 / 23 intervals, ~3.3 s), not the no-room wait (bulkRetryMs, 5 s).
    const wait = Number(await redis.zscore(store.keys.due, '3p:CRM-2')) - Date.now();
    expect(wait).toBeGreaterThan(PACE_MS);
    expect(wait).toBeLessThan(5000);
  });

  it('starts no bulk claim when the polls owed leave no room in the budget', async () => {
    const [a] = flushers as [Flusher, Flusher];
    const t0 = Date.now();
    for (let k = 0; k < 4; k += 1) {
      await queues.bulkStatus.add('poll', { claimId: `c${k}`, batches: [] }, { jobId: `c${k}`, delay: 60_000 });
    }
    // 36 spent + 8 owed + 2 for a new file = 46 > 45 (50 less a tenth kept back).
    expect(
      (await createBudgets(redis, prefix, { singlePerDay: 1_000_000, bulkPerMinute: 50 }).bulk.reserve(36)).granted,
    ).toBe(true);
    await mergeNewVisitors(700, BULK_BATCH, t0);
    expect(await a.flushOnce()).toMatchObject({ single: 0, bulk: 0 });
    expect(await redis.zcard(store.keys.due)).toBe(BULK_BATCH);
    await (await queues.bulkStatus.getJob('c0'))?.remove();
    await makeDue(
      Array.from({ length: BULK_BATCH }, (_, i) => `3p:CRM-${700 + i}`),
      t0 - 1000,
    );
    expect((await a.flushOnce()).bulk).toBe(BULK_BATCH);
  });

  // A flood merged over most of a minute: its first small claims must not spend the calls its
  // last visitors need, or those wait for the budget window to roll over.
  it('keeps the calls of one claim back while visitors are still coming; the last ones take them at once', async () => {
    // A 200-ms window for the watch, so that its readings, one every 120 ms, see one flood.
    const [a, b] = [newFlusher(redis, 200), newFlusher(other, 200)];
    const t0 = Date.now();
    // 40 of 50 spent: room for a claim (40 + 2 <= 45), not with 4 more kept back (46). An
    // ingest job not merged yet: visitors are still coming.
    const budget = createBudgets(redis, prefix, { singlePerDay: 1_000_000, bulkPerMinute: 50 }).bulk;
    expect((await budget.reserve(40)).granted).toBe(true);
    const job = await queues.ingest.add('batch', { source: 'pos', receivedAt: t0, events: [] });
    await mergeNewVisitors(100, 125, t0);
    expect(await a.flushOnce()).toMatchObject({ single: 0, bulk: 0 });
    expect(await bulkJobs()).toHaveLength(0);
    // Handed back until the flood can be over (its last activity plus the 10-ms window),
    // not for bulkRetryMs (5 s), so they are due for the claim that takes the kept calls.
    const dueAt = Number(await redis.zscore(store.keys.due, '3p:CRM-100'));
    expect(dueAt).toBeLessThanOrEqual(Date.now() + 1000);
    // Seen for a window, still coming: a flood, not a lone visitor of a trickle.
    for (let k = 0; k < 2; k += 1) {
      await new Promise((r) => setTimeout(r, 120));
      await makeDue(
        Array.from({ length: 125 }, (_, i) => `3p:CRM-${100 + i}`),
        Date.now() - 1,
      );
      expect(await a.flushOnce()).toMatchObject({ single: 0, bulk: 0 });
    }

    // The job is merged; a window later nothing is coming. The pacer's gate is closed (half
    // the budget is committed, so it applies): only the flusher whose claim the kept calls
    // held back takes them without waiting at it. 100 visitors are due; 20 were handed back
    // for the bulk budget (due within bulkRetryMs): the last claim takes them too.
    await job.remove();
    expect((await new CallPacer(redis, prefix, 'bulk', PACE_MS).tryPass(60_000)).passed).toBe(true);
    await new Promise((r) => setTimeout(r, 250));
    // 5 more stand for visitors held behind a delivery in flight, due once it ends.
    const vks = Array.from({ length: 120 }, (_, i) => `3p:CRM-${100 + i}`);
    const held = Array.from({ length: 5 }, (_, i) => `3p:CRM-${220 + i}`);
    await makeDue(vks.slice(0, 100), Date.now() - 1);
    await makeDue(vks.slice(100), Date.now() + 4000);
    await makeDue(held, Date.now() + 60_000);
    expect((await b.flushOnce()).bulk).toBe(0);
    expect((await a.flushOnce()).bulk).toBe(120);
    expect(await bulkJobs()).toEqual([[...vks].sort()]);
    // The tail cut the gate the flood had closed to a quarter interval: the held visitors,
    // due once it opens, pass it (closing it for a quarter interval again), instead of
    // waiting out the flood's pace.
    await new Promise((r) => setTimeout(r, PACE_MS / 4 + 50));
    await makeDue(held, Date.now() - 1);
    expect((await a.flushOnce()).bulk).toBe(5);
    const gate = await new CallPacer(redis, prefix, 'bulk', PACE_MS).tryPass();
    expect(gate.passed).toBe(false);
    expect(gate.retryInMs).toBeLessThanOrEqual(PACE_MS / 4);
  });

  // The watch reads only when bulk work is due, so a lone visitor is first seen at its due
  // time: it must not count as a flood whose end may pass the gate (a review reproduced one
  // bulk claim per visitor of a trickle at 8 calls a minute).
  it('gives a trickle of lone visitors near the edge of a tiny budget no way past the gate', async () => {
    const a = newFlusher(redis, 100, 8, 'bulk');
    const t0 = Date.now();
    // 2 spent and a claim in flight owing 2 polls: 4 of 8 committed. Room for a claim (6),
    // not with the 3 calls kept back while visitors come (9). The gate is closed.
    const budget = createBudgets(redis, prefix, { singlePerDay: 1_000_000, bulkPerMinute: 8 }).bulk;
    expect((await budget.reserve(2)).granted).toBe(true);
    await queues.bulkStatus.add('poll', { claimId: 'c0', batches: [] }, { jobId: 'c0', delay: 60_000 });
    expect((await new CallPacer(redis, prefix, 'bulk', PACE_MS).tryPass(60_000)).passed).toBe(true);
    for (let n = 1; n <= 4; n += 1) {
      await store.merge('pos', [newVisitorEvent(n, t0)], t0 - 1000);
      await new Promise((r) => setTimeout(r, 40));
      expect((await a.flushOnce()).bulk).toBe(0);
      // A window later nothing more has come: still no claim past the gate.
      await new Promise((r) => setTimeout(r, 150));
      expect((await a.flushOnce()).bulk).toBe(0);
    }
    expect(await bulkJobs()).toHaveLength(0);
  });

  it('paces bulk files that would not be full, and lets a full one go at once', async () => {
    const [a] = flushers as [Flusher, Flusher];
    const t0 = Date.now();
    await oneStillInWindow();
    await store.merge('pos', [newVisitorEvent(1, t0)], t0 - 1000);
    expect((await a.flushOnce()).bulk).toBe(1);
    // 120 due: enough for bulk (threshold 100), not a full file (150): they wait, unclaimed.
    await mergeNewVisitors(100, 120, t0);
    expect((await a.flushOnce()).claimed).toBe(0);
    expect(await redis.zcard(store.keys.due)).toBe(120 + 1);
    // 40 more make a full file: it goes although the pacer's interval is not over.
    await mergeNewVisitors(300, 40, t0);
    const full = await a.flushOnce();
    expect(full.bulk).toBe(BULK_BATCH);
    // The rest (10) is a small flush of new visitors: its bulk share waits for the pacer.
    expect(full.single).toBe(0);
    expect(await bulkJobs()).toHaveLength(2);
    expect(await redis.zcard(store.keys.due)).toBe(10 + 1);
  });

  // Each claim in flight owes status polls: BULK_MAX_CLAIMS_IN_FLIGHT bounds them.
  it('starts no bulk claim while BULK_MAX_CLAIMS_IN_FLIGHT claims are being submitted or polled', async () => {
    const [a] = flushers as [Flusher, Flusher];
    const t0 = Date.now();
    for (let k = 0; k < MAX_CLAIMS; k += 1) {
      await queues.bulkStatus.add('poll', { claimId: `c${k}`, batches: [] }, { jobId: `c${k}`, delay: 60_000 });
    }
    await mergeNewVisitors(500, BULK_BATCH, t0);
    // New thirdPartyIds can only go by bulk: they wait (handed back), none is sent.
    expect(await a.flushOnce()).toMatchObject({ single: 0, bulk: 0 });
    expect(await redis.zcard(store.keys.due)).toBe(BULK_BATCH);
    expect(await bulkJobs()).toHaveLength(0);
    // One claim's batches complete (its status job ends): a full file goes.
    await (await queues.bulkStatus.getJob('c0'))?.remove();
    await makeDue(
      Array.from({ length: BULK_BATCH }, (_, i) => `3p:CRM-${500 + i}`),
      t0 - 1000,
    );
    expect((await a.flushOnce()).bulk).toBe(BULK_BATCH);
    expect(await bulkJobs()).toHaveLength(1);
  });

  // Batches take minutes to hours at Target: while bulk is full, visitors Target knows must
  // not wait behind it.
  it('keeps visitors Target knows flowing by single updates while BULK_MAX_CLAIMS_IN_FLIGHT claims are with Target', async () => {
    const [a] = flushers as [Flusher, Flusher];
    const t0 = Date.now();
    for (let k = 0; k < MAX_CLAIMS; k += 1) {
      await queues.bulkStatus.add('poll', { claimId: `c${k}`, batches: [] }, { jobId: `c${k}`, delay: 60_000 });
    }
    const known = Array.from({ length: BULK_BATCH }, (_, i): ValidEvent => ({
      id: `p${i}`,
      type: 'test',
      occurredAtMs: t0,
      visitor: { kind: 'pcId', id: `${i}-1.01_00` },
      attributes: { tier: 'gold' },
    }));
    await store.merge('pos', [...known, newVisitorEvent(1, t0)], t0 - 1000);
    const result = await a.flushOnce();
    expect(result).toMatchObject({ single: BULK_BATCH, bulk: 0 });
    expect(await bulkJobs()).toHaveLength(0);
    const single = await queues.deliverSingle.getJobs(['waiting']);
    expect(single.flatMap((j) => j.data.visitors)).toHaveLength(BULK_BATCH);
    expect(single.flatMap((j) => j.data.visitors)).not.toContain('3p:CRM-1');
    // The new thirdPartyId waits for bulk, handed back with its values.
    expect(await redis.zscore(store.keys.due, '3p:CRM-1')).not.toBeNull();
  });

  // P7: a flusher that dies between claiming and creating the job leaves a claim no job owns.
  it('moves a claim whose lease ran out with no live job to a new claim and job, once', async () => {
    const [a, b] = flushers as [Flusher, Flusher];
    const t0 = Date.now();
    await store.merge('pos', [newVisitorEvent(1, t0)], t0 - 1000);
    // The "dead" flusher: it claimed, then never created a job.
    expect(await store.claimDue('orphan', 10)).toEqual(['3p:CRM-1']);
    // Inside the lease nothing happens.
    expect((await a.flushOnce()).reissued).toBe(0);
    const later = Date.now() + LEASE_MS + 1;
    const [first, second] = await Promise.all([a.flushOnce(later), b.flushOnce(later)]);
    expect(first.reissued + second.reissued).toBe(1);
    const jobs = await queues.deliverBulk.getJobs(['waiting']);
    expect(jobs).toHaveLength(1);
    const job = jobs[0]!;
    expect(job.data.visitors).toEqual(['3p:CRM-1']);
    expect(job.data.claimId).not.toBe('orphan');
    expect(job.id).toBe(job.data.claimId);
    // The visitor is held by the new claim, whose job will find it.
    expect((await store.snapshot(job.data.claimId, ['3p:CRM-1'])).map((s) => s.vk)).toEqual(['3p:CRM-1']);
  });

  it('moves an orphaned claim of many visitors with one script call, not one per visitor', async () => {
    const [a] = flushers as [Flusher, Flusher];
    const t0 = Date.now();
    await mergeNewVisitors(0, 40, t0);
    expect(await store.claimDue('orphan', 100)).toHaveLength(40);
    // The script is loaded (a first EVALSHA may miss and be sent again as EVAL).
    expect(await store.moveClaim('nobody', 'nobody', ['3p:CRM-0'])).toEqual([]);
    let reissued = 0;
    const calls = await countScriptCalls(redis, RENEW_LEASE, [store.keys.root], async () => {
      reissued = (await a.flushOnce(Date.now() + LEASE_MS + 1)).reissued;
    });
    expect(reissued).toBe(40);
    expect(calls).toEqual([1]);
  });

  it('keeps a claim whose job is alive when its lease runs out', async () => {
    const [a] = flushers as [Flusher, Flusher];
    const t0 = Date.now();
    await store.merge('pos', [newVisitorEvent(1, t0)], t0 - 1000);
    expect((await a.flushOnce()).bulk).toBe(1);
    const [job] = await queues.deliverBulk.getJobs(['waiting']);
    const result = await a.flushOnce(Date.now() + LEASE_MS + 1);
    expect(result.reissued).toBe(0);
    expect(await queues.deliverBulk.getJobs(['waiting'])).toHaveLength(1);
    expect((await store.snapshot(job!.data.claimId, ['3p:CRM-1'])).map((s) => s.vk)).toEqual(['3p:CRM-1']);
  });
});
