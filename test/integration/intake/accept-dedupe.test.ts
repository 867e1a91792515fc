import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { markerBucket } from '../../../src/coalesce/markers.js';
import { VisitorStore } from '../../../src/coalesce/store.js';
import { ENVELOPE_RULES, resolveMapping, validateEvent, type ValidEvent } from '../../../src/events/index.js';
import { acceptBatch, acceptEvents } from '../../../src/intake/accept.js';
import { openIntake, type IntakeHandle } from '../../../src/intake/intake-deps.js';
import { deletePrefix, newRedis, scanKeys, uniquePrefix } from '../../harness/context.js';
import { ingestEvents } from '../../../src/jobs/ingest-rows.js';

const WINDOW_MS = 3_600_000;
const mapping = resolveMapping();

function kioskVisit(id: string, visitor = 'CRM-1'): Record<string, unknown> {
  return {
    id,
    type: 'kiosk_visit',
    occurredAt: '2026-11-21T10:00:00Z',
    visitor: { mbox3rdPartyId: visitor },
    data: { kioskId: 'K-1' },
  };
}

function mapped(raw: Record<string, unknown>): ValidEvent {
  const result = validateEvent(raw, mapping, { now: Date.now() });
  if (!result.ok) throw new Error(result.errors.join('; '));
  return result.event;
}

/** The names of the commands `redis` sends while `run` runs (BullMQ's Queue shares the connection). */
async function commandsDuring(redis: Redis, run: () => Promise<unknown>): Promise<string[]> {
  const names: string[] = [];
  const original = redis.sendCommand.bind(redis);
  redis.sendCommand = (command: { name: string }, ...rest: unknown[]) => {
    names.push(command.name);
    return (original as (...a: unknown[]) => unknown)(command, ...rest);
  };
  try {
    await run();
  } finally {
    redis.sendCommand = original;
  }
  return names;
}

describe('intake dedupe with one shard: one Redis call, and no id left marked by a job that was not stored', () => {
  let redis: Redis;
  let prefix: string;
  let intake: IntakeHandle;

  beforeAll(() => {
    redis = newRedis();
  });
  afterAll(async () => {
    await redis.quit();
  });
  beforeEach(() => {
    prefix = uniquePrefix('dedupe');
    intake = openIntake(redis, { prefix, dedupeWindowMs: WINDOW_MS, mapping, maxValueLength: 256 });
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await intake.close();
    await deletePrefix(redis, prefix);
  });

  it('costs one dedupe script call and one Queue.add for a request that makes one job', async () => {
    await acceptBatch(intake.deps, 'pos', [kioskVisit('warm-up')]);
    const add = vi.spyOn(intake.deps.ingestQueue, 'add');
    const addBulk = vi.spyOn(intake.deps.ingestQueue, 'addBulk');
    const events = Array.from({ length: 200 }, (_, i) => kioskVisit(`e${i}`, `CRM-${i}`));
    const commands = await commandsDuring(redis, () => acceptBatch(intake.deps, 'pos', events));
    // The dedupe script, then BullMQ's add script: two round trips for the whole request.
    expect(commands).toEqual(['evalsha', 'evalsha']);
    expect(add).toHaveBeenCalledTimes(1);
    expect(addBulk).not.toHaveBeenCalled();
    const [job] = await intake.deps.ingestQueue
      .getJobs(['wait'])
      .then((jobs) => jobs.filter((j) => ingestEvents(j.data).length === 200));
    expect(job?.id).toMatch(/^intake-\d+$/);
    expect(job?.data).toMatchObject({ source: 'pos', checkedEnvelope: ENVELOPE_RULES });
    // Marker hashes expire as the merge's do: after at least one window, within about two.
    const hashes = await scanKeys(redis, `{${prefix}}:seen:*`);
    expect(hashes.length).toBeGreaterThan(100);
    for (const hash of hashes.slice(0, 20)) {
      const ttl = await redis.pttl(hash);
      expect(ttl).toBeGreaterThan(WINDOW_MS - 60_000);
      expect(ttl).toBeLessThanOrEqual(2 * WINDOW_MS + WINDOW_MS / 8);
    }
  });

  it("sets each marker hash's expiry once, recorded in its generation's registry, and writes no marker for an id seen before", async () => {
    const now = Date.now();
    await intake.deps.marks.claim(
      'pos',
      Array.from({ length: 300 }, (_, i) => `r${i}`),
      500,
      now,
    );
    const generation = Math.floor(now / WINDOW_MS);
    const hashes = await scanKeys(redis, `{${prefix}}:seen:${generation}:*`);
    const buckets = hashes.filter((k) => !k.endsWith(':x'));
    const registry = `{${prefix}}:seen:${generation}:x`;
    expect(buckets.length).toBeGreaterThan(250);
    expect(hashes).toContain(registry);
    // One bit per bucket hash, and every one of them has its expiry.
    expect(await redis.bitcount(registry)).toBe(buckets.length);
    let latest = 0;
    for (const hash of buckets) {
      const ttl = await redis.pttl(hash);
      expect(ttl).toBeGreaterThan(WINDOW_MS - 60_000);
      latest = Math.max(latest, ttl);
    }
    // The registry lasts as long as the last of them, and not much longer.
    const registryTtl = await redis.pttl(registry);
    expect(registryTtl).toBeGreaterThanOrEqual(latest - 1000);
    expect(registryTtl).toBeLessThanOrEqual(2 * WINDOW_MS + WINDOW_MS / 8);

    // Applied in the previous generation (as the merge marks it): seen, and no marker is
    // written for it in this one (none is written and taken back out either).
    const oldBucket = markerBucket('pos', 'old');
    await redis.hset(`{${prefix}}:seen:${generation - 1}:${oldBucket}`, 'pos:old', 'a1x|y|3p:CRM-1');
    const again = await intake.deps.marks.claim('pos', ['old', 'new'], 500, now);
    expect(again.seen).toEqual([true, false]);
    expect(await redis.hexists(`{${prefix}}:seen:${generation}:${oldBucket}`, 'pos:old')).toBe(0);
    expect(await redis.hexists(`{${prefix}}:seen:${generation}:${markerBucket('pos', 'new')}`, 'pos:new')).toBe(1);
  });

  it('stores the events as compact rows, every field as sent, without the property names', async () => {
    const sent = [kioskVisit('r1'), kioskVisit('r2', 'CRM-2')];
    await acceptBatch(intake.deps, 'pos', sent);
    const [job] = await intake.deps.ingestQueue.getJobs(['wait']);
    expect(job?.data.events).toBeUndefined();
    expect(job?.data.rows).toEqual([
      ['r1', 'kiosk_visit', '2026-11-21T10:00:00Z', { mbox3rdPartyId: 'CRM-1' }, { kioskId: 'K-1' }],
      ['r2', 'kiosk_visit', '2026-11-21T10:00:00Z', { mbox3rdPartyId: 'CRM-2' }, { kioskId: 'K-1' }],
    ]);
    expect(ingestEvents(job?.data ?? {})).toEqual(sent);
  });

  it('splits a large request into jobs of maxEventsPerJob, each id marked by its own job', async () => {
    const deps = { ...intake.deps, maxEventsPerJob: 3 };
    const summary = await acceptBatch(
      deps,
      'pos',
      Array.from({ length: 7 }, (_, i) => kioskVisit(`s${i}`)),
    );
    expect(summary).toEqual({ accepted: 7, duplicates: 0, rejected: [] });
    const jobs = await intake.deps.ingestQueue.getJobs(['wait']);
    expect(jobs.map((j) => ingestEvents(j.data).length).sort()).toEqual([1, 3, 3]);
    // Removing one job makes exactly its ids new again; the others stay duplicates.
    const single = jobs.find((j) => ingestEvents(j.data).length === 1);
    await single?.remove();
    const resent = await acceptEvents(
      deps,
      'pos',
      Array.from({ length: 7 }, (_, i) => kioskVisit(`s${i}`)),
    );
    expect(resent.results.map((r) => r.status)).toEqual([...Array<string>(6).fill('duplicate'), 'accepted']);
  });

  it('reports a resend as a duplicate while its job waits, and after the merge applied it', async () => {
    const first = [kioskVisit('q1', 'CRM-1'), kioskVisit('q2', 'CRM-2')];
    expect(await acceptBatch(intake.deps, 'pos', first)).toEqual({ accepted: 2, duplicates: 0, rejected: [] });
    expect(await acceptBatch(intake.deps, 'pos', first)).toEqual({ accepted: 0, duplicates: 2, rejected: [] });

    // What the map worker does: merge (markers become `a`), then BullMQ removes the completed job.
    const store = new VisitorStore(redis, {
      prefix,
      coalesceWindowMs: 1000,
      dedupeWindowMs: WINDOW_MS,
      deliveredRetentionMs: WINDOW_MS,
      leaseMs: 5000,
    });
    expect(await store.merge('pos', first.map(mapped), Date.now())).toEqual(['applied', 'applied']);
    for (const job of await intake.deps.ingestQueue.getJobs(['wait'])) await job.remove();
    expect(await acceptBatch(intake.deps, 'pos', first)).toEqual({ accepted: 0, duplicates: 2, rejected: [] });
    // Another source's ids are other events.
    expect(await acceptBatch(intake.deps, 'kiosk', first)).toEqual({ accepted: 2, duplicates: 0, rejected: [] });
  });

  it('takes the resend when storing the job failed after the dedupe call (P1)', async () => {
    vi.spyOn(intake.deps.ingestQueue, 'add').mockRejectedValueOnce(new Error('Connection is closed.'));
    const events = [kioskVisit('f1'), kioskVisit('f2')];
    await expect(acceptBatch(intake.deps, 'pos', events)).rejects.toThrow('Connection is closed.');
    expect(await intake.deps.ingestQueue.getJobCounts('wait')).toEqual({ wait: 0 });
    expect(await acceptBatch(intake.deps, 'pos', events)).toEqual({ accepted: 2, duplicates: 0, rejected: [] });
    expect(await acceptBatch(intake.deps, 'pos', events)).toEqual({ accepted: 0, duplicates: 2, rejected: [] });
  });

  it('takes the resend when intake died between the dedupe call and storing the job (P1, P7)', async () => {
    // The dedupe call alone: the markers name a job that will never exist.
    const claim = await intake.deps.marks.claim('pos', ['k1', 'k2'], 1000);
    expect(claim).toMatchObject({ seen: [false, false] });
    expect(claim.firstJob).toBeGreaterThan(0);
    expect(await acceptBatch(intake.deps, 'pos', [kioskVisit('k1'), kioskVisit('k2')])).toEqual({
      accepted: 2,
      duplicates: 0,
      rejected: [],
    });
  });
});
