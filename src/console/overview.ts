import { parseVisitorKey } from '../events/index.js';
import type { AdminRole } from '../http/admin-auth.js';
import { QUEUE_NAMES, type Stage } from '../jobs/catalog.js';
import { visitorObject } from '../lineage/lineage.js';
import { OPS_ROUTES } from '../ops/routes.js';
import type { SharedState } from '../ops/scrape.js';
import { FLOW_RATE_MINUTES, type FlowCount, type FlowReading } from './flow-counter.js';

/**
 * The console's overview (`GET /admin/api/overview`) as a pure function of what
 * src/console/overview-reads.ts gathered. Counts marked `total` are since the prefix was
 * created; `now` counts are the state at `at`. Rates are per minute over the last
 * FLOW_RATE_MINUTES minutes and the current one.
 */

export interface OldestPendingReading {
  vk: string;
  /** When its coalescing window ends (the due index' score), epoch ms. */
  dueAt: number;
  /** The earliest intake time of the values it holds (`_in`), when known. */
  receivedAt: number | null;
}

/** A bulk claim whose batches Target is processing: its status job, read without its data. */
export interface BulkClaimReading {
  claimId: string;
  /** `delayed` (waiting for its next poll), `active` (polling now), `waiting` (due). */
  state: string;
  /** When the status job was added: the claim's first submit. */
  addedAt: number;
  /** When a poll round last started. */
  lastRunAt: number | null;
  /** Poll rounds so far (runs of the status job). */
  runs: number | null;
}

export interface DeadLetterReading {
  stage: Stage;
  code: string;
  items: number;
  lastAttemptAt: number;
}

export interface OverviewReads {
  now: number;
  role: AdminRole;
  shared: SharedState;
  flow: FlowReading;
  oldestPending: OldestPendingReading | null;
  bulkClaims: BulkClaimReading[];
  /** The newest dead letters (at most a page), newest first. */
  deadLetters: DeadLetterReading[];
}

export type FlowStageName =
  'received' | 'rejected' | 'merged' | 'pending' | 'in_flight' | 'delivered' | 'dead_lettered';

export interface FlowStage {
  name: FlowStageName;
  label: string;
  unit: 'events' | 'visitors' | 'visitor updates' | 'events or visitors';
  /** `total`: counted since the prefix was created; `now`: the current state. */
  kind: 'total' | 'now';
  count: number;
  /** Per minute over the rate window; null for `now` counts. */
  perMinute: number | null;
}

export interface DeadLetterGroup {
  stage: Stage;
  code: string;
  entries: number;
  items: number;
  newestAt: string;
}

export interface Overview {
  at: string;
  role: AdminRole;
  /** The queue dashboard this role may open. */
  board: string;
  rateMinutes: number;
  flow: FlowStage[];
  /** Merge outcomes counted by the merge script: applied, superseded, duplicate, late_dropped, ... */
  merge: Record<string, number>;
  queues: Array<{ name: string; counts: Record<string, number> }>;
  budgets: Array<{
    name: string;
    limit: number;
    windowSeconds: number;
    used: number;
    remaining: number;
    recentCalls: number;
    pausedSeconds: number;
  }>;
  /** Target's limit shared with the account's other API users: paused after its 503. */
  sharedLimit: { paused: boolean; pausedSeconds: number };
  target: {
    /** Whether Target takes our credentials, or every delivery is held (src/deliver/credentials-hold.ts). */
    access:
      | { state: 'ok' }
      | {
          state: 'held';
          since: string;
          heldSeconds: number;
          status: number;
          probes: number;
          /** A new token was read since the hold opened. */ renewed: boolean;
        };
    bulk: {
      claims: number;
      oldestAgeSeconds: number | null;
      shown: Array<{
        claimId: string;
        state: string;
        since: string;
        ageSeconds: number;
        lastPollAt: string | null;
        pollRounds: number | null;
      }>;
      statusPolls: { total: number; perMinute: number };
    };
  };
  oldestPending: {
    visitor: Record<string, string>;
    dueAt: string;
    /** Seconds past its due time (0 while its window runs): the flusher or delivery is behind. */
    overdueSeconds: number;
    receivedAt: string | null;
    waitingSeconds: number | null;
  } | null;
  sources: Array<{ source: string; lastEventAt: string; silentSeconds: number }>;
  deadLetters: { queued: number; trimmed: number; scanned: number; groups: DeadLetterGroup[] };
  redis: { usedBytes: number | null; maxBytes: number | null };
}

/** Board paths by role: the read-only token cannot open the full board. */
export const BOARD_PATHS: Record<AdminRole, string> = {
  admin: OPS_ROUTES.dashboard,
  readonly: OPS_ROUTES.readonlyDashboard,
};

const seconds = (ms: number) => Math.max(0, Math.round(ms / 1000));
const iso = (ms: number) => new Date(ms).toISOString();

/** Per-minute rate of one count over the window: the full minutes before this one, and this one so far. Pure. */
export function perMinute(flow: FlowReading, name: FlowCount, now: number): number {
  const total = flow.minutes.reduce((sum, m) => sum + (m.counts[name] ?? 0), 0);
  const minutes = FLOW_RATE_MINUTES + (now % 60_000) / 60_000;
  return Math.round((total / minutes) * 10) / 10;
}

/** Dead letters by stage and code, largest group first. Pure. */
export function groupDeadLetters(entries: readonly DeadLetterReading[]): DeadLetterGroup[] {
  const groups = new Map<string, { stage: Stage; code: string; entries: number; items: number; newest: number }>();
  for (const entry of entries) {
    const key = `${entry.stage}\u0000${entry.code}`;
    const group = groups.get(key) ?? { stage: entry.stage, code: entry.code, entries: 0, items: 0, newest: 0 };
    group.entries += 1;
    group.items += entry.items;
    group.newest = Math.max(group.newest, entry.lastAttemptAt);
    groups.set(key, group);
  }
  return [...groups.values()]
    .sort((a, b) => b.entries - a.entries || b.newest - a.newest)
    .map(({ newest, ...group }) => ({ ...group, newestAt: iso(newest) }));
}

function flowStages(reads: OverviewReads): FlowStage[] {
  const { flow, shared, now } = reads;
  const total = (name: FlowCount) => flow.totals[name] ?? 0;
  const counted = (name: FlowCount & FlowStageName, label: string, unit: FlowStage['unit']): FlowStage => ({
    name,
    label,
    unit,
    kind: 'total',
    count: total(name),
    perMinute: perMinute(flow, name, now),
  });
  const state = (name: FlowStageName, label: string, count: number): FlowStage => ({
    name,
    label,
    unit: 'visitors',
    kind: 'now',
    count,
    perMinute: null,
  });
  return [
    counted('received', 'received', 'events'),
    counted('rejected', 'rejected', 'events'),
    counted('merged', 'merged', 'events'),
    state('pending', 'pending', shared.pending),
    state('in_flight', 'in flight', shared.inFlight),
    counted('delivered', 'delivered', 'visitor updates'),
    counted('dead_lettered', 'dead-lettered', 'events or visitors'),
  ];
}

/** The whole overview. Pure. */
export function buildOverview(reads: OverviewReads): Overview {
  const { now, shared, flow } = reads;
  const hold = shared.hold;
  const paused = Math.max(0, ...shared.budgets.map((b) => b.state.pausedForMs));
  const claims = reads.bulkClaims.map((c) => ({
    claimId: c.claimId,
    state: c.state,
    since: iso(c.addedAt),
    ageSeconds: seconds(now - c.addedAt),
    lastPollAt: c.lastRunAt === null ? null : iso(c.lastRunAt),
    pollRounds: c.runs,
  }));
  const polling = shared.queues.find((q) => q.name === QUEUE_NAMES.bulkStatus)?.counts ?? {};
  const oldest = reads.oldestPending;
  return {
    at: iso(now),
    role: reads.role,
    board: BOARD_PATHS[reads.role],
    rateMinutes: FLOW_RATE_MINUTES,
    flow: flowStages(reads),
    merge: Object.fromEntries(Object.entries(shared.mergeStats).map(([k, n]) => [k.replace(/^events_/, ''), n])),
    queues: shared.queues,
    budgets: shared.budgets.map((b) => ({
      name: b.name,
      limit: b.limit,
      windowSeconds: seconds(b.windowMs),
      used: b.state.used,
      remaining: b.state.remaining,
      recentCalls: b.state.recent,
      pausedSeconds: seconds(b.state.pausedForMs),
    })),
    sharedLimit: { paused: paused > 0, pausedSeconds: seconds(paused) },
    target: {
      access:
        hold === undefined
          ? { state: 'ok' }
          : {
              state: 'held',
              since: iso(hold.since),
              heldSeconds: seconds(now - hold.since),
              status: hold.status,
              probes: hold.probes,
              renewed: hold.tokenChanged,
            },
      bulk: {
        claims: (polling.active ?? 0) + (polling.waiting ?? 0) + (polling.delayed ?? 0),
        oldestAgeSeconds: claims.length === 0 ? null : Math.max(...claims.map((c) => c.ageSeconds)),
        shown: claims,
        statusPolls: { total: flow.totals.status_polls ?? 0, perMinute: perMinute(flow, 'status_polls', now) },
      },
    },
    oldestPending:
      oldest === null
        ? null
        : {
            visitor: visitorObject(parseVisitorKey(oldest.vk)),
            dueAt: iso(oldest.dueAt),
            overdueSeconds: seconds(now - oldest.dueAt),
            receivedAt: oldest.receivedAt === null ? null : iso(oldest.receivedAt),
            waitingSeconds: oldest.receivedAt === null ? null : seconds(now - oldest.receivedAt),
          },
    sources: Object.entries(flow.sources)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([source, at]) => ({ source, lastEventAt: iso(at), silentSeconds: seconds(now - at) })),
    deadLetters: {
      queued: shared.queues.find((q) => q.name === QUEUE_NAMES.deadLetter)?.counts.waiting ?? 0,
      trimmed: shared.deadLettersTrimmed,
      scanned: reads.deadLetters.length,
      groups: groupDeadLetters(reads.deadLetters),
    },
    redis: { usedBytes: shared.redisMemory.used ?? null, maxBytes: shared.redisMemory.max ?? null },
  };
}
