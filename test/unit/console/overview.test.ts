import { describe, expect, it } from 'vitest';
import { bulkRowsLanded, flowOfCompleted } from '../../../src/console/flow-watch.js';
import { buildOverview, groupDeadLetters, perMinute, type OverviewReads } from '../../../src/console/overview.js';
import type { FlowReading } from '../../../src/console/flow-counter.js';
import type { SharedState } from '../../../src/ops/scrape.js';

/** 12:00:30 UTC: half a minute into the current minute. */
const NOW = Date.UTC(2026, 10, 20, 12, 0, 30);
const MINUTE = Math.floor(NOW / 60_000);

function shared(parts: Partial<SharedState> = {}): SharedState {
  return {
    queues: [
      { name: 'ingest', counts: { waiting: 2, active: 1 } },
      { name: 'bulk-status', counts: { delayed: 3, active: 1, waiting: 0 } },
      { name: 'dead-letter', counts: { waiting: 7 } },
    ],
    pending: 40,
    inFlight: 12,
    mergeStats: { events_applied: 90, events_late_dropped: 3 },
    redisMemory: { used: 5_000_000, max: 0 },
    budgets: [
      {
        name: 'single',
        limit: 1000,
        windowMs: 86_400_000,
        state: { granted: true, used: 10, remaining: 990, retryInMs: 0, recent: 4, pausedForMs: 0 },
      },
      {
        name: 'bulk',
        limit: 35,
        windowMs: 60_000,
        state: { granted: true, used: 5, remaining: 30, retryInMs: 0, recent: 5, pausedForMs: 42_000 },
      },
    ],
    hold: undefined,
    deadLettersTrimmed: 2,
    ...parts,
  };
}

function flow(parts: Partial<FlowReading> = {}): FlowReading {
  return {
    totals: { received: 120, rejected: 5, merged: 100, delivered: 60, dead_lettered: 4, status_polls: 9 },
    minutes: [
      { minute: MINUTE - 5, counts: { received: 11 } },
      { minute: MINUTE - 1, counts: { received: 22, delivered: 11 } },
      { minute: MINUTE, counts: { received: 22, status_polls: 11 } },
    ],
    sources: { 'pos-eu': NOW - 90_000, crm: NOW - 1000 },
    ...parts,
  };
}

function reads(parts: Partial<OverviewReads> = {}): OverviewReads {
  return {
    now: NOW,
    role: 'readonly',
    shared: shared(),
    flow: flow(),
    oldestPending: { vk: '3p:CRM-88412', dueAt: NOW - 20_000, receivedAt: NOW - 80_000 },
    bulkClaims: [
      { claimId: 'c-1', state: 'delayed', addedAt: NOW - 600_000, lastRunAt: NOW - 5000, runs: 7 },
      { claimId: 'c-2', state: 'active', addedAt: NOW - 30_000, lastRunAt: null, runs: null },
    ],
    deadLetters: [
      { stage: 'deliver-single', code: 'TARGET_HTTP_400', items: 1, lastAttemptAt: NOW - 1000 },
      { stage: 'map', code: 'EVENT_INVALID', items: 3, lastAttemptAt: NOW - 5000 },
      { stage: 'deliver-single', code: 'TARGET_HTTP_400', items: 2, lastAttemptAt: NOW - 9000 },
    ],
    ...parts,
  };
}

describe('console overview, pure', () => {
  it('gives per-minute rates over the full minutes of the window and the current one so far', () => {
    // 55 received over 5.5 minutes.
    expect(perMinute(flow(), 'received', NOW)).toBe(10);
    expect(perMinute(flow(), 'delivered', NOW)).toBe(2);
    expect(perMinute(flow(), 'rejected', NOW)).toBe(0);
  });

  it('shows the flow in order, totals with rates and the current state without', () => {
    const o = buildOverview(reads());
    expect(o.flow.map((s) => [s.name, s.count, s.kind, s.perMinute])).toEqual([
      ['received', 120, 'total', 10],
      ['rejected', 5, 'total', 0],
      ['merged', 100, 'total', 0],
      ['pending', 40, 'now', null],
      ['in_flight', 12, 'now', null],
      ['delivered', 60, 'total', 2],
      ['dead_lettered', 4, 'total', 0],
    ]);
    expect(o.merge).toEqual({ applied: 90, late_dropped: 3 });
  });

  it('says who is looking and which board that role may open', () => {
    expect(buildOverview(reads()).board).toBe('/admin/queues-readonly');
    expect(buildOverview(reads({ role: 'admin' })).board).toBe('/admin/queues');
  });

  it("reports budgets, the shared limit's pause, and Target's credentials", () => {
    const o = buildOverview(reads());
    expect(o.budgets).toEqual([
      {
        name: 'single',
        limit: 1000,
        windowSeconds: 86_400,
        used: 10,
        remaining: 990,
        recentCalls: 4,
        pausedSeconds: 0,
      },
      { name: 'bulk', limit: 35, windowSeconds: 60, used: 5, remaining: 30, recentCalls: 5, pausedSeconds: 42 },
    ]);
    expect(o.sharedLimit).toEqual({ paused: true, pausedSeconds: 42 });
    expect(o.target.access).toEqual({ state: 'ok' });
    const held = buildOverview(
      reads({ shared: shared({ hold: { since: NOW - 125_000, status: 401, probes: 4, tokenChanged: false } }) }),
    );
    expect(held.target.access).toEqual({
      state: 'held',
      since: new Date(NOW - 125_000).toISOString(),
      heldSeconds: 125,
      status: 401,
      probes: 4,
      renewed: false,
    });
  });

  it('lists bulk claims at Target with their age, counting every status job, and the status polls', () => {
    const { bulk } = buildOverview(reads()).target;
    expect(bulk.claims).toBe(4);
    expect(bulk.oldestAgeSeconds).toBe(600);
    expect(bulk.shown[0]).toEqual({
      claimId: 'c-1',
      state: 'delayed',
      since: new Date(NOW - 600_000).toISOString(),
      ageSeconds: 600,
      lastPollAt: new Date(NOW - 5000).toISOString(),
      pollRounds: 7,
    });
    expect(bulk.shown[1]?.lastPollAt).toBeNull();
    expect(bulk.statusPolls).toEqual({ total: 9, perMinute: 2 });
    expect(buildOverview(reads({ bulkClaims: [] })).target.bulk.oldestAgeSeconds).toBeNull();
  });

  it('names the oldest pending visitor as the lineage routes do, overdue past its due time', () => {
    expect(buildOverview(reads()).oldestPending).toEqual({
      visitor: { mbox3rdPartyId: 'CRM-88412' },
      dueAt: new Date(NOW - 20_000).toISOString(),
      overdueSeconds: 20,
      receivedAt: new Date(NOW - 80_000).toISOString(),
      waitingSeconds: 80,
    });
    const early = buildOverview(reads({ oldestPending: { vk: 'pc:abc', dueAt: NOW + 5000, receivedAt: null } }));
    expect(early.oldestPending).toMatchObject({ visitor: { mboxPC: 'abc' }, overdueSeconds: 0, waitingSeconds: null });
    expect(buildOverview(reads({ oldestPending: null })).oldestPending).toBeNull();
  });

  it('gives each source its last event and how long it has been silent, by name', () => {
    expect(buildOverview(reads()).sources).toEqual([
      { source: 'crm', lastEventAt: new Date(NOW - 1000).toISOString(), silentSeconds: 1 },
      { source: 'pos-eu', lastEventAt: new Date(NOW - 90_000).toISOString(), silentSeconds: 90 },
    ]);
  });

  it('groups dead letters by stage and code, largest group first', () => {
    expect(groupDeadLetters(reads().deadLetters)).toEqual([
      {
        stage: 'deliver-single',
        code: 'TARGET_HTTP_400',
        entries: 2,
        items: 3,
        newestAt: new Date(NOW - 1000).toISOString(),
      },
      { stage: 'map', code: 'EVENT_INVALID', entries: 1, items: 3, newestAt: new Date(NOW - 5000).toISOString() },
    ]);
    expect(buildOverview(reads()).deadLetters).toMatchObject({ queued: 7, trimmed: 2, scanned: 3 });
  });
});

describe('console flow counts from job results, pure', () => {
  it('counts applied events, single updates Target answered, and bulk rows only once their batch completes', () => {
    expect(flowOfCompleted('ingest', { applied: 4, superseded: 2 })).toEqual([['merged', 4]]);
    expect(flowOfCompleted('deliver-single', { mode: 'single', delivered: 3 })).toEqual([['delivered', 3]]);
    // Submitted is not delivered: the batch's rows are counted when it completes.
    expect(flowOfCompleted('deliver-bulk', { mode: 'bulk', delivered: 500 })).toEqual([]);
    expect(flowOfCompleted('deliver-single', { mode: 'bulk', delivered: 9 })).toEqual([]);
    expect(bulkRowsLanded({ batchComplete: { successfulUpdates: 480, failedUpdates: 20 } })).toBe(480);
    expect(bulkRowsLanded({ other: 1 })).toBe(0);
    expect(flowOfCompleted('ingest', 'not a summary')).toEqual([['merged', 0]]);
  });
});
