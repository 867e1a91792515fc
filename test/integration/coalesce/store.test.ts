import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { IntakeMarks } from '../../../src/coalesce/dedupe.js';
import { MERGE_SCRIPT_EVENTS, mergeChunks, VisitorStore, type VisitorSnapshot } from '../../../src/coalesce/store.js';
import type { ValidEvent } from '../../../src/events/index.js';
import { deletePrefix, newRedis, scanKeys, uniquePrefix } from '../../harness/context.js';
import { waitFor } from '../../harness/pipeline.js';
import { countScriptCalls } from '../../harness/script-calls.js';
import { MERGE_EVENTS, RENEW_LEASE } from '../../../src/coalesce/lua.js';

const T0 = Date.parse('2026-11-21T10:00:00.000Z');

function event(id: string, minute: number, attributes: Record<string, string>, visitor = 'CRM-1'): ValidEvent {
  return {
    id,
    type: 'test',
    occurredAtMs: T0 + minute * 60_000,
    visitor: { kind: 'thirdPartyId', id: visitor },
    attributes,
  };
}

function values(snapshot: { attributes: Map<string, { value: string }> } | undefined): Record<string, string> {
  return Object.fromEntries(
    [...(snapshot?.attributes ?? new Map<string, { value: string }>())].map(([k, u]) => [k, u.value]),
  );
}

describe('VisitorStore', () => {
  let redis: Redis;
  let prefix: string;
  let store: VisitorStore;

  beforeAll(() => {
    redis = newRedis();
  });
  afterAll(async () => {
    await redis.quit();
  });
  beforeEach(() => {
    prefix = uniquePrefix('store');
    store = new VisitorStore(redis, {
      prefix,
      coalesceWindowMs: 1000,
      dedupeWindowMs: 60_000,
      deliveredRetentionMs: 60_000,
      leaseMs: 5000,
    });
  });
  afterEach(async () => {
    await deletePrefix(redis, prefix);
  });

  it('keeps, per attribute, the value of the latest event whatever the arrival order (P3)', async () => {
    const outcomes = await store.merge(
      'pos',
      [
        event('e3', 3, { tier: 'gold', store: 'S3' }),
        event('e1', 1, { tier: 'bronze', store: 'S1', city: 'Basel' }),
        event('e2', 2, { tier: 'silver' }),
      ],
      T0,
    );
    expect(outcomes).toEqual(['applied', 'applied', 'superseded']);
    const [claimed] = [await store.claimDue('c1', 10, T0 + 1000)];
    expect(claimed).toEqual(['3p:CRM-1']);
    const [snap] = await store.snapshot('c1', ['3p:CRM-1'], T0 + 1000);
    expect(values(snap)).toEqual({ tier: 'gold', store: 'S3', city: 'Basel' });
  });

  it('breaks a tie in event time by the greater event id', async () => {
    await store.merge('pos', [event('b', 1, { tier: 'from-b' }), event('a', 1, { tier: 'from-a' })], T0);
    await store.claimDue('c', 10, T0 + 1000);
    expect(values((await store.snapshot('c', ['3p:CRM-1']))[0])).toEqual({ tier: 'from-b' });
  });

  it('orders ids in a tie byte by byte as UTF-8, not by UTF-16 code units', async () => {
    // "ｚ" (U+FF5A) is EF BD 9A in UTF-8, "😀" is F0 9F 98 80: the emoji is the greater id.
    await store.merge('pos', [event('a-😀', 1, { tier: 'emoji' }), event('a-ｚ', 1, { tier: 'fullwidth' })], T0);
    await store.claimDue('c', 10, T0 + 1000);
    expect(values((await store.snapshot('c', ['3p:CRM-1']))[0])).toEqual({ tier: 'emoji' });
  });

  it('applies an event id once per source within the dedupe window (P2)', async () => {
    expect(await store.merge('pos', [event('e1', 1, { a: '1' })], T0)).toEqual(['applied']);
    expect(await store.merge('pos', [event('e1', 5, { a: 'changed' })], T0)).toEqual(['duplicate']);
    // The same id from another source is another event.
    expect(await store.merge('kiosk', [event('e1', 2, { b: '2' })], T0)).toEqual(['applied']);
    expect(await store.stats()).toMatchObject({ events_applied: 2, events_duplicate: 1 });
  });

  it('applies the first copy of an id sent twice in one batch, even when the second claims a later time (P2)', async () => {
    expect(await store.merge('pos', [event('r1', 1, { a: '1' }), event('r1', 5, { a: 'changed' })], T0)).toEqual([
      'applied',
      'duplicate',
    ]);
    await store.claimDue('c', 10, T0 + 1000);
    expect(values((await store.snapshot('c', ['3p:CRM-1']))[0])).toEqual({ a: '1' });
  });

  it('lets a resend the markers call a duplicate knock out no older event of the same batch (P3)', async () => {
    // A till that stamps occurredAt when it sends: `b` is resent with a later time beside a new `a`.
    expect(await store.merge('pos', [event('b', 1, { tier: 'silver' })], T0)).toEqual(['applied']);
    expect(
      await store.merge('pos', [event('a', 2, { tier: 'gold' }), event('b', 3, { tier: 'silver' })], T0 + 10),
    ).toEqual(['applied', 'duplicate']);
    await store.claimDue('c', 10, T0 + 2000);
    expect(values((await store.snapshot('c', ['3p:CRM-1']))[0])).toEqual({ tier: 'gold' });
  });

  it('keeps only the newest value per attribute of a visitor within one batch: older siblings read superseded', async () => {
    expect(
      await store.merge(
        'pos',
        [
          event('old', 1, { tier: 'bronze', city: 'Basel' }),
          event('new', 2, { tier: 'gold' }),
          event('older', 0, { tier: 'x' }),
        ],
        T0,
      ),
    ).toEqual(['applied', 'applied', 'superseded']);
    await store.claimDue('c', 10, T0 + 1000);
    expect(values((await store.snapshot('c', ['3p:CRM-1']))[0])).toEqual({ tier: 'gold', city: 'Basel' });
  });

  it('remembers an event id for at least the dedupe window, and lets its marker hash expire within about two', async () => {
    // dedupeWindowMs is 60 s here; markers go to the generation of the merge's time.
    expect(await store.merge('pos', [event('d1', 1, { a: '1' })], T0)).toEqual(['applied']);
    expect(await store.merge('pos', [event('d1', 1, { a: '1' })], T0 + 59_999)).toEqual(['duplicate']);
    const marks = new IntakeMarks(redis, prefix, 60_000);
    expect(
      await marks.alreadySeen(
        'pos',
        [
          { id: 'd1', vk: '3p:CRM-1' },
          { id: 'd2', vk: '3p:CRM-1' },
        ],
        T0 + 59_999,
      ),
    ).toEqual([true, false]);
    const [hash] = await scanKeys(redis, `${store.keys.root}:seen:*`);
    const ttl = await redis.pttl(hash ?? '');
    expect(ttl).toBeGreaterThan(60_000 - 1000);
    expect(ttl).toBeLessThanOrEqual(2 * 60_000 + 60_000 / 8);
    // Three windows later neither generation that is looked up holds it: the id is new again.
    expect(await marks.alreadySeen('pos', [{ id: 'd1', vk: '3p:CRM-1' }], T0 + 180_000)).toEqual([false]);
    expect(await store.merge('pos', [event('d1', 9, { a: '9' })], T0 + 180_000)).toEqual(['applied']);
  });

  it("calls intake's copy a duplicate when a replayed copy of the same id merged late, a generation behind (P2)", async () => {
    // Just after a generation boundary (dedupeWindowMs 60 s), and just before it.
    const boundary = (Math.floor(T0 / 60_000) + 1) * 60_000;
    const marks = new IntakeMarks(redis, prefix, 60_000);
    // Intake takes copy B in, in the new generation: nothing marks the id yet.
    const { seen, firstJob } = await marks.claim('pos', ['x1'], 500, boundary + 10);
    expect(seen).toEqual([false]);
    // A replayed dead letter with copy A merges now, with a `now` from before the boundary
    // (its call waited out a reconnect), and a later occurredAt than B's.
    expect(
      await store.merge('pos', [event('x1', 3, { tier: 'silver' })], boundary - 10, `dlq-1@${boundary - 10}`),
    ).toEqual(['applied']);
    // B's own job: the id was applied, whatever its marker in this generation said.
    expect(
      await store.merge(
        'pos',
        [event('x1', 2, { tier: 'gold' })],
        boundary + 20,
        `intake-${firstJob}@${boundary + 10}`,
      ),
    ).toEqual(['duplicate']);
    // With no replay in between, the job's own merge applies its copy.
    const fresh = await marks.claim('pos', ['x2'], 500, boundary + 30);
    expect(
      await store.merge(
        'pos',
        [event('x2', 4, { tier: 'gold' })],
        boundary + 40,
        `intake-${fresh.firstJob}@${boundary + 30}`,
      ),
    ).toEqual(['applied']);
  });

  it('lists a forgotten visitor as erased while event-id markers may name it, however short its suppression', async () => {
    await store.merge('pos', [event('f1', 1, { a: '1' })], T0);
    await store.forget('3p:CRM-1', T0 + 1, T0);
    expect(await store.suppressedAmong(['3p:CRM-1'], T0 + 10)).toEqual(new Set());
    // dedupeWindowMs is 60 s: markers live at most 2 windows and an eighth.
    expect(await store.erasedAmong(['3p:CRM-1', '3p:CRM-2'], T0 + 2 * 60_000 + 7_500)).toEqual(new Set(['3p:CRM-1']));
    expect(await store.erasedAmong(['3p:CRM-1'], T0 + 2 * 60_000 + 7_500 + 1001)).toEqual(new Set());
  });

  it('makes a visitor due one window after its first pending change, not later', async () => {
    await store.merge('pos', [event('e1', 1, { a: '1' })], T0);
    await store.merge('pos', [event('e2', 2, { a: '2' })], T0 + 900);
    expect(await store.claimDue('early', 10, T0 + 999)).toEqual([]);
    expect(await store.claimDue('due', 10, T0 + 1000)).toEqual(['3p:CRM-1']);
  });

  it('holds a visitor in flight: new events wait, and a retry sends the newest values (P4)', async () => {
    await store.merge('pos', [event('e1', 1, { tier: 'bronze', city: 'Basel' })], T0);
    expect(await store.claimDue('c1', 10, T0 + 1000)).toEqual(['3p:CRM-1']);
    const first = (await store.snapshot('c1', ['3p:CRM-1'], T0 + 1000))[0];
    // While that delivery runs, newer and older events arrive.
    await store.merge('pos', [event('e5', 5, { tier: 'gold' }), event('e0', 0, { city: 'Bern' })], T0 + 1100);
    // Not claimable by another flush while in flight.
    expect(await store.claimDue('c2', 10, T0 + 5000)).toEqual([]);
    // A retry of c1 folds in the newer tier; the older city stays out.
    const retry = (await store.snapshot('c1', ['3p:CRM-1'], T0 + 5000))[0];
    expect(values(retry)).toEqual({ tier: 'gold', city: 'Basel' });
    expect(values(first)).toEqual({ tier: 'bronze', city: 'Basel' });
    expect(await store.ack('c1', retry!, T0 + 5001)).toBe('done');
    expect(await store.inFlightVisitors()).toBe(0);
  });

  it('sends again when a newer value was folded in after the snapshot that was delivered', async () => {
    await store.merge('pos', [event('e1', 1, { tier: 'bronze' })], T0);
    await store.claimDue('c1', 10, T0 + 1000);
    const sent = (await store.snapshot('c1', ['3p:CRM-1'], T0 + 1000))[0]!;
    await store.merge('pos', [event('e2', 2, { tier: 'gold' })], T0 + 1100);
    // A concurrent attempt of the same claim folds the newer value in before the ack.
    await store.snapshot('c1', ['3p:CRM-1'], T0 + 1200);
    expect(await store.ack('c1', sent, T0 + 1300)).toBe('more');
    const next = (await store.snapshot('c1', ['3p:CRM-1'], T0 + 1400))[0]!;
    expect(values(next)).toEqual({ tier: 'gold' });
    expect(await store.ack('c1', next, T0 + 1500)).toBe('done');
  });

  it('freezes a bulk claim at its first snapshot: a second run sends the same values, and the ack covers exactly them', async () => {
    await store.merge('pos', [event('e1', 1, { tier: 'bronze' })], T0);
    await store.claimDue('c1', 10, T0 + 1000);
    const sent = (await store.snapshot('c1', ['3p:CRM-1'], T0 + 1000, { freeze: true }))[0]!;
    await store.merge('pos', [event('e2', 2, { tier: 'gold' })], T0 + 1100);
    // The bulk job runs again (its worker died after the submit): it must not fold gold in,
    // or the batch status poll would mark gold delivered while the file carries bronze.
    const again = (await store.snapshot('c1', ['3p:CRM-1'], T0 + 1200, { freeze: true }))[0]!;
    expect(values(again)).toEqual({ tier: 'bronze' });
    // Nor may any later delivery attempt of this claim, bulk or single.
    expect(values((await store.snapshot('c1', ['3p:CRM-1'], T0 + 1250))[0])).toEqual({ tier: 'bronze' });
    const [inFlight] = await store.readInFlight('c1', ['3p:CRM-1']);
    expect(await store.ack('c1', inFlight!, T0 + 1300)).toBe('done');
    expect(values(sent)).toEqual({ tier: 'bronze' });
    // Gold waited in the pending hash, due one window after it came, for a delivery of its own.
    expect(await store.claimDue('c2', 10, T0 + 2100)).toEqual(['3p:CRM-1']);
    expect(values((await store.snapshot('c2', ['3p:CRM-1'], T0 + 2100))[0])).toEqual({ tier: 'gold' });
  });

  it('keeps the earliest intake time of the values a visitor holds, through hand-backs and folds', async () => {
    await store.merge('pos', [event('e1', 1, { tier: 'bronze' })], T0 + 50, 'b1', T0 + 10);
    await store.merge('pos', [event('e2', 2, { city: 'Basel' })], T0 + 60, 'b2', T0 + 40);
    await store.claimDue('c1', 10, T0 + 1100);
    await store.unclaim('c1', ['3p:CRM-1'], T0 + 1200);
    await store.merge('pos', [event('e3', 3, { tier: 'gold' })], T0 + 1150, 'b3', T0 + 1140);
    await store.claimDue('c2', 10, T0 + 1200);
    const [snap] = await store.snapshot('c2', ['3p:CRM-1'], T0 + 1200);
    expect(snap?.receivedAtMs).toBe(T0 + 10);
    expect(values(snap)).toEqual({ tier: 'gold', city: 'Basel' });
    // The intake time is bookkeeping, not a value: one ack finishes the visitor.
    expect(await store.ack('c2', snap!, T0 + 1300)).toBe('done');
    expect(await store.inFlightVisitors()).toBe(0);
  });

  it('keeps the sources of the values a visitor holds, once each, through hand-backs and folds', async () => {
    await store.merge('pos', [event('e1', 1, { tier: 'bronze' })], T0);
    await store.merge('kiosk', [event('e2', 2, { city: 'Basel' })], T0);
    await store.merge('pos', [event('e3', 3, { tier: 'silver' })], T0);
    await store.claimDue('c1', 10, T0 + 1000);
    await store.unclaim('c1', ['3p:CRM-1'], T0 + 1000);
    await store.claimDue('c2', 10, T0 + 1000);
    await store.merge('callcentre', [event('e4', 4, { tier: 'gold' })], T0 + 1001);
    const [snap] = await store.snapshot('c2', ['3p:CRM-1'], T0 + 1002);
    expect(snap?.sources).toEqual(['pos', 'kiosk', 'callcentre']);
    expect(await store.ack('c2', snap!, T0 + 1003)).toBe('done');
    // A value superseded before it was stored adds no source.
    await store.merge('late-feed', [event('e0', 0, { tier: 'old' })], T0 + 1004);
    expect(await store.pendingVisitors()).toBe(0);
  });

  it('acks many visitors in one go, in input order, each as ack would', async () => {
    await store.merge(
      'pos',
      ['A', 'B', 'C'].map((v, i) => event(`m${i}`, 1, { tier: `t${v}` }, `CRM-${v}`)),
      T0,
    );
    expect((await store.claimDue('c1', 2, T0 + 1000)).sort()).toEqual(['3p:CRM-A', '3p:CRM-B']);
    await store.claimDue('c2', 10, T0 + 1000);
    const held = await store.readInFlight('c1', ['3p:CRM-A', '3p:CRM-B']);
    const [other] = await store.readInFlight('c2', ['3p:CRM-C']);
    // CRM-C belongs to claim c2: for c1 it is "lost" and stays in flight for c2.
    expect(await store.ackMany('c1', [held[1]!, other!, held[0]!], T0 + 1100)).toEqual(['done', 'lost', 'done']);
    expect(await store.inFlightVisitors()).toBe(1);
    expect(await store.ackMany('c2', [other!], T0 + 1200)).toEqual(['done']);
    expect(await store.inFlightVisitors()).toBe(0);
  });

  it('keeps the newest DELIVERY_LOG_ENTRIES deliveries of a visitor, newest first', async () => {
    const logged = new VisitorStore(redis, {
      prefix,
      coalesceWindowMs: 1000,
      dedupeWindowMs: 60_000,
      deliveredRetentionMs: 60_000,
      leaseMs: 5000,
      deliveryLog: { entries: 2, retentionMs: 60_000 },
    });
    for (let k = 1; k <= 4; k += 1) {
      await logged.merge('pos', [event(`e${k}`, k, { a: String(k) })], T0 + k * 10_000);
      await logged.claimDue(`c${k}`, 10, T0 + k * 10_000 + 1000);
      const sent = (await logged.snapshot(`c${k}`, ['3p:CRM-1'], T0 + k * 10_000 + 1000))[0]!;
      expect(await logged.ack(`c${k}`, sent, T0 + k * 10_000 + 1001, { route: 'bulk', batchId: `b${k}` })).toBe('done');
      expect(await redis.llen(`{${prefix}}:dl:3p:CRM-1`)).toBe(Math.min(k, 2));
    }
    const entries = await logged.deliveryLog.read('3p:CRM-1', 0, T0 + 50_000);
    expect(entries.map((e) => e.batchId)).toEqual(['b4', 'b3']);
  });

  it('drops an event older than the value Target already holds, and counts it (P4)', async () => {
    await store.merge('pos', [event('e5', 5, { tier: 'gold' })], T0);
    await store.claimDue('c1', 10, T0 + 1000);
    const snap = (await store.snapshot('c1', ['3p:CRM-1'], T0 + 1000))[0]!;
    expect(await store.ack('c1', snap, T0 + 1000)).toBe('done');
    // Days later, an offline event from before the delivered one turns up.
    expect(await store.merge('pos', [event('e1', 1, { tier: 'bronze' })], T0 + 2000)).toEqual(['late']);
    expect(await store.claimDue('c2', 10, T0 + 10_000)).toEqual([]);
    expect((await store.stats()).events_late_dropped).toBe(1);
  });

  it('puts pending changes that arrived during a delivery back on the due index when it ends', async () => {
    await store.merge('pos', [event('e1', 1, { a: '1' })], T0);
    await store.claimDue('c1', 10, T0 + 1000);
    await store.merge('pos', [event('e2', 2, { b: '2' })], T0 + 1001);
    await store.claimDue('c-skip', 10, T0 + 3000);
    const snap = (await store.snapshot('c1', ['3p:CRM-1'], T0 + 3000))[0]!;
    // The snapshot folded e2 in, so one ack finishes everything.
    expect(values(snap)).toEqual({ a: '1', b: '2' });
    expect(await store.ack('c1', snap, T0 + 3001)).toBe('done');
    await store.merge('pos', [event('e3', 3, { c: '3' })], T0 + 3002);
    expect(await store.claimDue('c3', 10, T0 + 4002)).toEqual(['3p:CRM-1']);
  });

  it('hands a claim back with its values, newer pending values winning, due again later', async () => {
    await store.merge('pos', [event('e1', 1, { tier: 'bronze', city: 'Basel' })], T0);
    expect(await store.claimDue('c1', 10, T0 + 1000)).toEqual(['3p:CRM-1']);
    await store.merge('pos', [event('e2', 2, { tier: 'gold' })], T0 + 1100);
    expect(await store.unclaim('c1', ['3p:CRM-1'], T0 + 5000)).toBe(1);
    expect(await store.inFlightVisitors()).toBe(0);
    expect(await store.claimDue('early', 10, T0 + 4999)).toEqual([]);
    expect(await store.claimDue('c2', 10, T0 + 5000)).toEqual(['3p:CRM-1']);
    expect(values((await store.snapshot('c2', ['3p:CRM-1'], T0 + 5000))[0])).toEqual({ tier: 'gold', city: 'Basel' });
  });

  it('releases a dead-lettered claim without marking anything delivered', async () => {
    await store.merge('pos', [event('e1', 1, { a: '1' })], T0);
    await store.claimDue('c1', 10, T0 + 1000);
    expect(await store.release('c1', ['3p:CRM-1'], T0 + 1000)).toBe(1);
    expect(await store.inFlightVisitors()).toBe(0);
    // An older event is still accepted: nothing reached Target.
    expect(await store.merge('pos', [event('e0', 0, { a: '0' })], T0 + 2000)).toEqual(['applied']);
  });

  it('merges a batch once: the same job run again after a crash changes nothing and is no duplicate (P2, P7)', async () => {
    const batch = [event('e1', 1, { tier: 'gold' }), event('e2', 2, { city: 'Basel' })];
    expect(await store.merge('pos', batch, T0, 'job-7')).toEqual(['applied', 'applied']);
    expect(await store.merge('pos', batch, T0 + 10, 'job-7')).toEqual(['replayed', 'replayed']);
    // A resend of e1 in another job is a duplicate; an id twice in one batch counts once.
    expect(
      await store.merge(
        'pos',
        [event('e1', 1, { tier: 'gold' }), event('e3', 3, { a: '1' }), event('e3', 3, { a: '1' })],
        T0 + 20,
        'job-8',
      ),
    ).toEqual(['duplicate', 'applied', 'duplicate']);
    expect(await store.stats()).toEqual({ events_applied: 3, events_duplicate: 2, events_replayed: 2 });
  });

  it('merges a large batch in script calls of at most MERGE_SCRIPT_EVENTS, so none blocks Redis long; a crash between two calls merges each event once (P2)', async () => {
    const visitors = 50;
    const batch = Array.from({ length: 2 * MERGE_SCRIPT_EVENTS + 50 }, (_, i) =>
      event(`big-${i}`, i, { seen: String(i) }, `CRM-${i % visitors}`),
    );
    // The job's worker died after its first call: that part is in, the rest is not.
    const [first = []] = mergeChunks(batch, (e) => `3p:${e.visitor.id}`);
    expect(first).toHaveLength(MERGE_SCRIPT_EVENTS);
    // (Within one call an older value of the same visitor and attribute is superseded.)
    const merged = ['applied', 'superseded'];
    expect((await store.merge('pos', first, T0, 'job-big')).every((o) => merged.includes(o))).toBe(true);
    let outcomes: string[] = [];
    const calls = await countScriptCalls(redis, MERGE_EVENTS, [store.keys.root], async () => {
      outcomes = await store.merge('pos', batch, T0 + 10, 'job-big');
    });
    expect(calls).toEqual([3]);
    batch.forEach((e, i) => {
      if (first.includes(e)) expect(outcomes[i]).toBe('replayed');
      else expect(merged).toContain(outcomes[i]);
    });
    // Run again whole: every part remembered.
    expect(new Set(await store.merge('pos', batch, T0 + 20, 'job-big'))).toEqual(new Set(['replayed']));
    const stats = await store.stats();
    expect((stats.events_applied ?? 0) + (stats.events_superseded ?? 0)).toBe(batch.length);
    expect(stats.events_replayed).toBe(MERGE_SCRIPT_EVENTS + batch.length);
    // Every visitor holds its newest event's value, whichever call carried it (P3).
    await store.claimDue('c-big', visitors, T0 + 60_000 * 10_000);
    const snapshots = await store.snapshot(
      'c-big',
      Array.from({ length: visitors }, (_, v) => `3p:CRM-${v}`),
      T0 + 60_000 * 10_000,
    );
    expect(snapshots.map((x) => values(x).seen)).toEqual(
      Array.from({ length: visitors }, (_, v) => String(batch.length - visitors + v)),
    );
  });

  it('loses no event when a job runs again with its events cut into other parts (one turned invalid since) (P1, P2)', async () => {
    const batch = Array.from({ length: 2 * MERGE_SCRIPT_EVENTS + 50 }, (_, i) =>
      event(`cut-${i}`, i, { seen: String(i) }, `CRM-${i % 50}`),
    );
    const [first = []] = mergeChunks(batch, (e) => `3p:${e.visitor.id}`);
    await store.merge('pos', first, T0, 'job-cut');
    // The run again lacks one event of the first part: every part after it starts elsewhere.
    const dropped = first[0];
    const again = batch.filter((e) => e !== dropped);
    const outcomes = await store.merge('pos', again, T0 + 10, 'job-cut');
    again.forEach((e, i) => {
      if (first.includes(e)) expect(outcomes[i]).toBe('duplicate');
      else expect(['applied', 'superseded']).toContain(outcomes[i]);
    });
    await store.claimDue('c-cut', 50, T0 + 60_000 * 10_000);
    const snapshots = await store.snapshot(
      'c-cut',
      Array.from({ length: 50 }, (_, v) => `3p:CRM-${v}`),
      T0 + 60_000 * 10_000,
    );
    expect(snapshots.map((x) => values(x).seen)).toEqual(Array.from({ length: 50 }, (_, v) => String(200 + v)));
  });

  // Redis does not roll a script back: an error part way through a batch must not leave it
  // marked as merged, or the retry would report the rest as replayed and drop them (P1).
  it('marks a batch merged only after all its events: a retry after an error part way merges the rest', async () => {
    // A key of the wrong type under the second visitor makes the script fail at its event.
    await redis.set(`{${prefix}}:vp:3p:CRM-2`, 'not a hash');
    const batch = [
      event('e1', 1, { tier: 'gold' }),
      event('e2', 2, { tier: 'silver' }, 'CRM-2'),
      event('e3', 3, { city: 'Basel' }, 'CRM-3'),
    ];
    await expect(store.merge('pos', batch, T0, 'job-9')).rejects.toThrow(/WRONGTYPE/);
    await redis.del(`{${prefix}}:vp:3p:CRM-2`);
    // The event merged before the error is a duplicate now; the others are merged, not dropped.
    expect(await store.merge('pos', batch, T0 + 10, 'job-9')).toEqual(['duplicate', 'applied', 'applied']);
    expect(await store.merge('pos', batch, T0 + 20, 'job-9')).toEqual(['replayed', 'replayed', 'replayed']);
    await store.claimDue('c9', 10, T0 + 5000);
    const snapshots = await store.snapshot('c9', ['3p:CRM-1', '3p:CRM-2', '3p:CRM-3'], T0 + 5000);
    expect(snapshots.map((x) => [x.vk, values(x)])).toEqual([
      ['3p:CRM-1', { tier: 'gold' }],
      ['3p:CRM-2', { tier: 'silver' }],
      ['3p:CRM-3', { city: 'Basel' }],
    ]);
  });

  it('claims due visitors behind a crowd of held ones: held visitors do not use up the limit', async () => {
    const held = ['h1', 'h2', 'h3'];
    await store.merge(
      'pos',
      held.map((v, i) => event(`a-${v}`, i, { a: '1' }, v)),
      T0,
    );
    expect(await store.claimDue('c1', 10, T0 + 1000)).toHaveLength(3);
    // New changes for the held visitors are due first; two other visitors are due after them.
    await store.merge(
      'pos',
      held.map((v, i) => event(`b-${v}`, 10 + i, { a: '2' }, v)),
      T0 + 1000,
    );
    await store.merge('pos', [event('x', 1, { a: '1' }, 'free-1'), event('y', 1, { a: '1' }, 'free-2')], T0 + 1500);
    expect((await store.claimDue('c2', 2, T0 + 3000)).sort()).toEqual(['3p:free-1', '3p:free-2']);
  });

  it('leaves no visitor neither due nor leased when a claim stops part way with an error', async () => {
    const root = `{${prefix}}`;
    await store.merge('pos', [event('a', 1, { a: '1' }, 'A')], T0);
    await store.merge('pos', [event('b', 1, { a: '1' }, 'B')], T0 + 1);
    await store.merge('pos', [event('c', 1, { a: '1' }, 'C')], T0 + 2);
    // B's pending values are not a hash: its claim fails after A's and before C's.
    await redis.del(`${root}:vp:3p:B`);
    await redis.set(`${root}:vp:3p:B`, 'not a hash');
    await expect(store.claimDue('c1', 10, T0 + 5000)).rejects.toThrow(/WRONGTYPE/);
    for (const vk of ['3p:A', '3p:C']) {
      const [dueAt, lease] = await Promise.all([redis.zscore(`${root}:due`, vk), redis.zscore(`${root}:leases`, vk)]);
      expect(dueAt !== null || lease !== null, `${vk} due or leased`).toBe(true);
    }
    expect(await redis.zscore(`${root}:due`, '3p:C')).not.toBeNull();
  });

  it('claims and snapshots more visitors than one script call takes, each once, under one claim', async () => {
    // 2,500 visitors: claim steps of at most 500; a limit of 2,200 leaves 300 due.
    const ids = Array.from({ length: 2500 }, (_, v) => `bulk-${String(v).padStart(4, '0')}`);
    for (let start = 0; start < ids.length; start += 500) {
      await store.merge(
        'pos',
        ids.slice(start, start + 500).map((v) => event(`e-${v}`, 1, { tier: `t-${v}` }, v)),
        T0,
      );
    }
    // Every script call the store makes goes through the client's script commands: none may
    // carry more than 500 visitors (a snapshot 100), since a script blocks every other Redis client while it
    // runs. (Watched on the client: MONITOR on the shared test Redis raced with other test
    // files' traffic and broke ioredis' reply queue.)
    const client = redis as unknown as Record<'tiClaim' | 'tiSnapshot', (...args: string[]) => Promise<unknown>>;
    const calls: Record<'tiClaim' | 'tiSnapshot', string[][]> = { tiClaim: [], tiSnapshot: [] };
    const originals = { tiClaim: client.tiClaim, tiSnapshot: client.tiSnapshot };
    for (const name of ['tiClaim', 'tiSnapshot'] as const) {
      client[name] = (...args: string[]) => {
        calls[name].push(args);
        return originals[name].apply(redis, args);
      };
    }
    let claimed: string[];
    let snaps: VisitorSnapshot[];
    try {
      claimed = await store.claimDue('big', 2200, T0 + 1000);
      expect(claimed).toHaveLength(2200);
      expect(new Set(claimed).size).toBe(2200);
      snaps = await store.snapshot('big', claimed, T0 + 1000, { freeze: true });
    } finally {
      Object.assign(client, originals);
    }
    // Arguments: claim (due, root, now, limit, leaseMs, claimId); snapshot (due, root, claimId, now, leaseMs, freeze, vk...).
    expect(calls.tiClaim.map((args) => Number(args[3]))).toEqual([500, 500, 500, 500, 200]);
    // Snapshots in steps of 100: a snapshot costs Redis about three times a claim per visitor.
    expect(calls.tiSnapshot.map((args) => args.length - 6)).toEqual(Array<number>(22).fill(100));
    expect(snaps.map((s) => s.vk)).toEqual(claimed);
    expect(snaps.map((s) => values(s).tier)).toEqual(claimed.map((vk) => `t-${vk.slice(3)}`));
    expect(await store.dueCount(T0 + 1000)).toBe(300);
    // A complete bulk batch of them is acked in steps too (several at once), every visitor
    // once; visitors whose values were not all sent come back as `more`, in input order.
    const partly = [claimed[2100], claimed[5], claimed[1500]];
    const unsent = (s: VisitorSnapshot): VisitorSnapshot =>
      partly.includes(s.vk) ? { ...s, attributes: new Map() } : s;
    expect(await store.ackInFlight('big', claimed, T0 + 2000, unsent)).toEqual({
      done: 2197,
      more: [claimed[5], claimed[1500], claimed[2100]],
    });
    expect(await store.ackInFlight('big', partly as string[], T0 + 2000)).toEqual({ done: 3, more: [] });
    expect(await store.inFlightVisitors()).toBe(0);
    expect((await store.knownVisitors(claimed)).every(Boolean)).toBe(true);
    const rest = await store.claimDue('rest', 5000, T0 + 1000);
    expect(new Set([...claimed, ...rest]).size).toBe(2500);
  });

  // Target drops a profile a lifetime after its last activity (two weeks by default), and a
  // single update to it then answers success and stores nothing: such a visitor must be
  // unknown again, so its next delivery goes by bulk v2, which creates it.
  it('knows a delivered visitor for the profile lifetime only, and keeps the delivered values for v2 rows', async () => {
    const DAY = 24 * 3600_000;
    const lifetime = new VisitorStore(redis, {
      prefix,
      coalesceWindowMs: 1000,
      dedupeWindowMs: 60_000,
      deliveredRetentionMs: 30 * DAY,
      leaseMs: 5000,
      profileLifetimeMs: 14 * DAY,
    });
    await lifetime.merge('pos', [event('e1', 1, { tier: 'gold' })], T0);
    const claimed = await lifetime.claimDue('c1', 10, T0 + 2000);
    await lifetime.snapshot('c1', claimed, T0 + 2000, { freeze: true });
    // A completed v2 row created the profile: known for the lifetime less a tenth (margin).
    expect(await lifetime.ackInFlight('c1', claimed, T0 + 3000, (x) => x, true)).toEqual({ done: 1, more: [] });
    expect(await lifetime.knownVisitors(['3p:CRM-1', '3p:CRM-NEVER'], T0 + 3000 + 12.6 * DAY - 1)).toEqual([
      true,
      false,
    ]);
    expect(await lifetime.knownVisitors(['3p:CRM-1'], T0 + 3000 + 12.6 * DAY)).toEqual([false]);
    // A single update proves nothing (Target answers success for a profile it dropped): it does not renew.
    await lifetime.merge('pos', [event('e0', 0, { note: 'x' })], T0 + 3500);
    const again = await lifetime.claimDue('c0', 10, T0 + 5000);
    const [one] = await lifetime.snapshot('c0', again, T0 + 5000);
    expect(await lifetime.ack('c0', one as VisitorSnapshot, T0 + 12 * DAY)).toBe('done');
    expect(await lifetime.knownVisitors(['3p:CRM-1'], T0 + 3000 + 12.6 * DAY)).toEqual([false]);
    // The values delivered are kept beside their stamps, and a bulk claim reads them back.
    await lifetime.merge('pos', [event('e2', 2, { store: 'S2' })], T0 + 12 * DAY);
    await lifetime.claimDue('c2', 10, T0 + 12 * DAY + 2000);
    const [bulk] = await lifetime.snapshot('c2', ['3p:CRM-1'], T0 + 12 * DAY + 2000, { freeze: true });
    expect(bulk?.delivered).toEqual(
      new Map([
        ['tier', 'gold'],
        ['note', 'x'],
      ]),
    );
    expect(values(bulk)).toEqual({ store: 'S2' });
  });

  it('makes a held change due the moment the earlier delivery ends, not a window later (max wait)', async () => {
    await store.merge('pos', [event('e1', 1, { a: '1' })], T0);
    await store.claimDue('c1', 10, T0 + 1000);
    const sent = (await store.snapshot('c1', ['3p:CRM-1'], T0 + 1000))[0]!;
    // Arrives after the snapshot, while the call to Target is under way.
    await store.merge('pos', [event('e2', 2, { b: '2' })], T0 + 1100);
    expect(await store.claimDue('c-skip', 10, T0 + 2100)).toEqual([]);
    expect(await store.ack('c1', sent, T0 + 2500)).toBe('done');
    expect(await store.claimDue('c2', 10, T0 + 2500)).toEqual(['3p:CRM-1']);
    expect(values((await store.snapshot('c2', ['3p:CRM-1'], T0 + 2500))[0])).toEqual({ b: '2' });
  });

  it('keeps a held visitor off the due index while its delivery runs: later events do not put it back', async () => {
    const due = `{${prefix}}:due`;
    await store.merge('pos', [event('e1', 1, { a: '1' })], T0);
    await store.claimDue('c1', 10, T0 + 1000);
    const sent = (await store.snapshot('c1', ['3p:CRM-1'], T0 + 1000))[0]!;
    await store.merge('pos', [event('e2', 2, { b: '2' })], T0 + 1100);
    // Due while the first delivery runs: claim-due finds it in flight and takes it off the index.
    expect(await store.claimDue('c-skip', 10, T0 + 2100)).toEqual([]);
    expect(await redis.zscore(due, '3p:CRM-1')).toBeNull();
    // More for the held visitor: it stays off the index (a ZADD would only make claim-due
    // skip it again), and the end of the delivery makes it due at once.
    await store.merge('pos', [event('e3', 3, { c: '3' })], T0 + 2200);
    expect(await redis.zscore(due, '3p:CRM-1')).toBeNull();
    // Also when every attribute of the event is pending already (the merge then reads neither
    // the in-flight nor the delivered hash).
    await store.merge('pos', [event('e4', 4, { b: '4', c: '4' })], T0 + 2300);
    expect(await redis.zscore(due, '3p:CRM-1')).toBeNull();
    expect(await store.ack('c1', sent, T0 + 2500)).toBe('done');
    expect(await redis.zscore(due, '3p:CRM-1')).toBe(String(T0 + 2500));
    expect(await store.claimDue('c2', 10, T0 + 2500)).toEqual(['3p:CRM-1']);
    expect(values((await store.snapshot('c2', ['3p:CRM-1'], T0 + 2500))[0])).toEqual({ b: '4', c: '4' });
  });

  it('puts a pending visitor that lost its due entry back on the index with its next event', async () => {
    const due = `{${prefix}}:due`;
    await store.merge('pos', [event('e1', 1, { a: '1' })], T0);
    // Whatever took it off without claiming it (a script stopped part way), the values stay
    // pending and the next event makes the visitor due again instead of leaving it stranded.
    await redis.zrem(due, '3p:CRM-1');
    await store.merge('pos', [event('e2', 2, { b: '2' })], T0 + 500);
    expect(await redis.zscore(due, '3p:CRM-1')).toBe(String(T0 + 1500));
    expect(await store.claimDue('c1', 10, T0 + 1500)).toEqual(['3p:CRM-1']);
    expect(values((await store.snapshot('c1', ['3p:CRM-1'], T0 + 1500))[0])).toEqual({ a: '1', b: '2' });
  });

  it('makes held changes due when the earlier delivery is dead-lettered: their own window still counts', async () => {
    await store.merge('pos', [event('e1', 1, { a: '1' })], T0);
    await store.claimDue('c1', 10, T0 + 1000);
    await store.merge('pos', [event('e2', 2, { a: '2' })], T0 + 1100);
    expect(await store.release('c1', ['3p:CRM-1'], T0 + 1200)).toBe(1);
    expect(await store.claimDue('c2', 10, T0 + 2099)).toEqual([]);
    expect(await store.claimDue('c2', 10, T0 + 2100)).toEqual(['3p:CRM-1']);
    // Held past its window, a change is due the moment the delivery is let go.
    await store.merge('pos', [event('e3', 3, { a: '3' })], T0 + 2200);
    expect(await store.claimDue('c-skip', 10, T0 + 3200)).toEqual([]);
    expect(await store.release('c2', ['3p:CRM-1'], T0 + 4000)).toBe(1);
    expect(await store.claimDue('c3', 10, T0 + 4000)).toEqual(['3p:CRM-1']);
  });

  it('forgets what Target holds after the delivered retention: an older event is then new (documented)', async () => {
    const brief = new VisitorStore(redis, { ...store.settings, deliveredRetentionMs: 50 });
    await brief.merge('pos', [event('e5', 5, { tier: 'gold' })], T0);
    await brief.claimDue('c1', 10, T0 + 1000);
    await brief.ack('c1', (await brief.snapshot('c1', ['3p:CRM-1'], T0 + 1000))[0]!, T0 + 1000);
    expect(await waitFor(async () => (await redis.exists(brief.keys.delivered('3p:CRM-1'))) === 0, 5000, 20)).toBe(
      true,
    );
    expect(await brief.merge('pos', [event('e1', 1, { tier: 'bronze' })], T0 + 2000)).toEqual(['applied']);
  });

  it('reports expired leases and moves them to a new claim exactly once', async () => {
    await store.merge('pos', [event('e1', 1, { a: '1' })], T0);
    await store.claimDue('old', 10, T0 + 1000);
    expect(await store.expiredLeases(10, T0 + 2000)).toEqual([]);
    expect(await store.expiredLeases(10, T0 + 6001)).toEqual([{ vk: '3p:CRM-1', claimId: 'old' }]);
    expect(await store.renewLease('3p:CRM-1', 'old', 'new', T0 + 6001)).toBe(true);
    expect(await store.renewLease('3p:CRM-1', 'old', 'other', T0 + 6001)).toBe(false);
    expect(await store.snapshot('old', ['3p:CRM-1'], T0 + 6002)).toEqual([]);
    expect(values((await store.snapshot('new', ['3p:CRM-1'], T0 + 6002))[0])).toEqual({ a: '1' });
  });

  // The lease sweep and the reroutes between single and bulk move whole claims.
  it('moves a whole claim in one script call, however many visitors it holds', async () => {
    const vks = Array.from({ length: 40 }, (_, k) => `3p:CRM-${k}`);
    await store.merge(
      'pos',
      vks.map((_, k) => event(`e${k}`, 1, { a: String(k) }, `CRM-${k}`)),
      T0,
    );
    expect(await store.claimDue('old', 100, T0 + 1000)).toHaveLength(40);
    // The script is loaded (a first EVALSHA may miss and be sent again as EVAL).
    expect(await store.moveClaim('nobody', 'nobody', ['3p:CRM-0'], T0 + 1000)).toEqual([]);
    const [first, ...others] = vks as [string, ...string[]];
    const moved: string[][] = [];
    const one = await countScriptCalls(redis, RENEW_LEASE, [store.keys.root], async () => {
      moved.push(await store.moveClaim('old', 'new', [first], T0 + 6001));
    });
    const many = await countScriptCalls(redis, RENEW_LEASE, [store.keys.root], async () => {
      moved.push(await store.moveClaim('old', 'new', [...others, '3p:CRM-gone'], T0 + 6001));
    });
    expect([one, many]).toEqual([[1], [1]]);
    expect(moved).toEqual([[first], others]);
    // Compare-and-set per visitor: the old claim holds none of them any more.
    expect(await store.moveClaim('old', 'other', vks, T0 + 6001)).toEqual([]);
    expect((await store.snapshot('new', vks, T0 + 6002)).map((x) => x.vk)).toEqual(vks);
    expect(await store.snapshot('old', vks, T0 + 6002)).toEqual([]);
  });
});
