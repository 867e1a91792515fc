import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventResult } from '../../src/intake/accept.js';
import { createProducer, type Producer } from '../../src/intake/producer.js';
import { QUEUE_NAMES, bullPrefix, type IngestJob } from '../../src/jobs/catalog.js';
import { deletePrefix, newRedis, uniquePrefix } from '../harness/context.js';
import { startTestPipeline, waitFor, type TestPipeline } from '../harness/pipeline.js';
import { ingestEvents } from '../../src/jobs/ingest-rows.js';

describe('producer SDK → map → flush → single delivery → simulator', () => {
  let redis: Redis;
  let running: TestPipeline;
  let producer: Producer;

  beforeAll(async () => {
    redis = newRedis();
    running = await startTestPipeline();
    producer = createProducer({ connection: redis, prefix: running.prefix, source: 'pos-eu' });
  });
  afterAll(async () => {
    await producer.close();
    await running.close();
    await deletePrefix(redis, running.prefix);
    await redis.quit();
  });

  it('ends with the last-write-wins values although events arrive out of order', async () => {
    const visitor = { mbox3rdPartyId: 'CRM-88412' };
    const events = [
      {
        id: 'pos-3',
        type: 'loyalty_card_used',
        occurredAt: '2026-11-21T12:00:00.000Z',
        visitor,
        data: { storeId: 'S3', points: 300, tier: 'gold', cardId: '6011000990139424' },
      },
      {
        id: 'pos-1',
        type: 'loyalty_card_used',
        occurredAt: '2026-11-21T10:00:00.000Z',
        visitor,
        data: { storeId: 'S1', points: 100, tier: 'bronze' },
      },
      {
        id: 'kiosk-2',
        type: 'kiosk_visit',
        occurredAt: '2026-11-21T11:00:00+01:00',
        visitor,
        data: { kioskId: 'K7', location: 'Zürich HB' },
      },
      {
        id: 'pos-2',
        type: 'loyalty_card_used',
        occurredAt: '2026-11-21T11:00:00.000Z',
        visitor,
        data: { storeId: 'S2', points: 1.5 },
      },
    ];
    // Sent in two producer batches, newest first.
    const first = await producer.sendMany(events.slice(0, 2));
    const second = await producer.sendMany(events.slice(2));
    expect(first.accepted + second.accepted).toBe(4);

    const landed = await waitFor(() => running.simulator.store.get('thirdPartyId', 'CRM-88412')?.kioskLastId === 'K7');
    expect(landed).toBe(true);
    await waitFor(async () => {
      const { pending, inFlight } = await running.pipeline.store.backlog();
      return pending === 0 && inFlight === 0;
    });
    expect(running.simulator.store.get('thirdPartyId', 'CRM-88412')).toEqual({
      loyaltyLastUsedAt: '2026-11-21T12:00:00.000Z',
      loyaltyLastStoreId: 'S3',
      loyaltyLastPoints: '300',
      loyaltyTier: 'gold',
      kioskLastVisitAt: '2026-11-21T10:00:00.000Z',
      kioskLastId: 'K7',
      kioskLastLocation: 'Zürich HB',
    });
  });

  it('answers accepted, duplicate and rejected per event, and never sends a card number', async () => {
    const visitor = { mboxPC: '1368007744041-575948.01_00' };
    const good = {
      id: 'call-1',
      type: 'call_centre_contact',
      occurredAt: '2026-11-21T09:00:00Z',
      visitor,
      data: { reason: 'billing', agentId: 'A-77' },
    };
    const summary = await producer.sendMany([
      good,
      { ...good, id: 'call-2', data: { outcome: 'resolved' } },
      good,
      {
        id: 'loan-1',
        type: 'loan_funded',
        occurredAt: '2026-11-21T09:00:00Z',
        visitor,
        data: { loanId: 'L1', amount: '12,50' },
      },
    ]);
    expect(summary.accepted).toBe(1);
    expect(summary.duplicates).toBe(1);
    expect(summary.rejected.map((r) => r.index)).toEqual([1, 3]);
    expect(summary.rejected[1]?.errors).toContain('data.amount: expected a number, got "12,50"');
    const resend = await producer.send(good);
    expect(resend.status).toBe('duplicate');

    expect(await waitFor(() => running.simulator.store.get('pcId', '1368007744041-575948.01_00') !== undefined)).toBe(
      true,
    );
    const profile = running.simulator.store.get('pcId', '1368007744041-575948.01_00');
    expect(profile).toEqual({ callCentreLastContactAt: '2026-11-21T09:00:00.000Z', callCentreLastReason: 'billing' });
    expect(JSON.stringify(running.simulator.stats.requests)).not.toContain('A-77');
    // pos-1 and pos-2 came after newer values for all their attributes: superseded, not applied.
    expect(await running.pipeline.store.stats()).toEqual({ events_applied: 3, events_superseded: 2 });
  });
});

describe('producer SDK batches (no workers run: jobs stay in the ingest queue)', () => {
  const prefix = uniquePrefix('sdk-batch');
  let redis: Redis;
  let producer: Producer;
  let ingest: Queue<IngestJob>;

  beforeAll(() => {
    redis = newRedis();
    producer = createProducer({ connection: redis, prefix, source: 'pos-eu' });
    ingest = new Queue<IngestJob>(QUEUE_NAMES.ingest, { connection: redis, prefix: bullPrefix(prefix) });
  });
  afterAll(async () => {
    await producer.close();
    await ingest.close();
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  const kiosk = (i: number): Record<string, unknown> => ({
    id: `till-${i}`,
    type: 'kiosk_visit',
    occurredAt: '2026-11-21T10:15:00Z',
    visitor: { mbox3rdPartyId: `CRM-${i % 37}` },
    data: { kioskId: `K${i}` },
  });
  const jobsInQueue = async (): Promise<number> =>
    Object.values(await ingest.getJobCounts('wait', 'prioritized', 'delayed', 'active', 'completed', 'failed')).reduce(
      (a, b) => a + b,
      0,
    );

  it('stores one sendMany of 500 events as exactly 1 ingest job, and answers per event in order', async () => {
    // Sent before: these come back as duplicates.
    expect((await producer.sendMany([0, 1, 2, 3, 4].map(kiosk))).accepted).toBe(5);
    expect(await jobsInQueue()).toBe(1);

    const events: Array<Record<string, unknown>> = [];
    const expected: EventResult[] = [];
    for (let i = 0; i < 500; i++) {
      if (i % 50 === 10) {
        events.push({ ...kiosk(i), data: {} });
        expected.push({
          index: i,
          id: `till-${i}`,
          status: 'rejected',
          errors: ['data.kioskId: required for kiosk_visit'],
        });
      } else if (i % 50 === 20) {
        events.push({ ...kiosk(i), visitor: { ecid: '12345678901234567890' } });
        expected.push({
          index: i,
          id: `till-${i}`,
          status: 'rejected',
          errors: ['visitor: ECID is not supported by the Target profile update APIs; send mboxPC or mbox3rdPartyId'],
        });
      } else if (i % 50 === 30) {
        events.push(kiosk(i - 1)); // the previous event again, inside the same batch
        expected.push({ index: i, id: `till-${i - 1}`, status: 'duplicate' });
      } else {
        events.push(kiosk(i));
        expected.push({ index: i, id: `till-${i}`, status: i < 5 ? 'duplicate' : 'accepted' });
      }
    }
    const summary = await producer.sendMany(events);
    expect(summary.results).toEqual(expected);
    expect(summary.accepted).toBe(500 - 20 - 15);
    expect(summary.duplicates).toBe(5 + 10);
    expect(summary.rejected.map((r) => r.index)).toEqual(
      expected.filter((r) => r.status === 'rejected').map((r) => r.index),
    );

    // Exactly one more job, holding the accepted events in order, under the producer's source.
    expect(await jobsInQueue()).toBe(2);
    const newest = (await ingest.getJobs(['wait'])).find((job) => ingestEvents(job.data).length > 5);
    expect(newest?.data.source).toBe('pos-eu');
    expect(
      (newest === undefined ? undefined : ingestEvents(newest.data))?.map((e) => (e as { id: string }).id),
    ).toEqual(expected.filter((r) => r.status === 'accepted').map((r) => r.id));
  });
});
