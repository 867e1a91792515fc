import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProducer, type Producer } from '../../src/intake/producer.js';
import { deletePrefix, newRedis } from '../harness/context.js';
import { startTestPipeline, waitFor, type TestPipeline } from '../harness/pipeline.js';

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
      { id: 'pos-3', type: 'loyalty_card_used', occurredAt: '2026-11-21T12:00:00.000Z', visitor, data: { storeId: 'S3', points: 300, tier: 'gold', cardId: '6011000990139424' } },
      { id: 'pos-1', type: 'loyalty_card_used', occurredAt: '2026-11-21T10:00:00.000Z', visitor, data: { storeId: 'S1', points: 100, tier: 'bronze' } },
      { id: 'kiosk-2', type: 'kiosk_visit', occurredAt: '2026-11-21T11:00:00+01:00', visitor, data: { kioskId: 'K7', location: 'Zürich HB' } },
      { id: 'pos-2', type: 'loyalty_card_used', occurredAt: '2026-11-21T11:00:00.000Z', visitor, data: { storeId: 'S2', points: 1.5 } },
    ];
    // Sent in two producer batches, newest first.
    const first = await producer.sendMany(events.slice(0, 2));
    const second = await producer.sendMany(events.slice(2));
    expect(first.accepted + second.accepted).toBe(4);

    const landed = await waitFor(() => running.simulator.store.get('thirdPartyId', 'CRM-88412')?.kioskLastId === 'K7');
    expect(landed).toBe(true);
    await waitFor(async () => (await running.pipeline.store.inFlightVisitors()) === 0 && (await running.pipeline.store.pendingVisitors()) === 0);
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
    const good = { id: 'call-1', type: 'call_centre_contact', occurredAt: '2026-11-21T09:00:00Z', visitor, data: { reason: 'billing', agentId: 'A-77' } };
    const summary = await producer.sendMany([
      good,
      { ...good, id: 'call-2', data: { outcome: 'resolved' } },
      good,
      { id: 'loan-1', type: 'loan_funded', occurredAt: '2026-11-21T09:00:00Z', visitor, data: { loanId: 'L1', amount: '12,50' } },
    ]);
    expect(summary.accepted).toBe(1);
    expect(summary.duplicates).toBe(1);
    expect(summary.rejected.map((r) => r.index)).toEqual([1, 3]);
    expect(summary.rejected[1]?.errors).toContain('data.amount: expected a number, got "12,50"');
    const resend = await producer.send(good);
    expect(resend.status).toBe('duplicate');

    expect(await waitFor(() => running.simulator.store.get('pcId', '1368007744041-575948.01_00') !== undefined)).toBe(true);
    const profile = running.simulator.store.get('pcId', '1368007744041-575948.01_00');
    expect(profile).toEqual({ callCentreLastContactAt: '2026-11-21T09:00:00.000Z', callCentreLastReason: 'billing' });
    expect(JSON.stringify(running.simulator.stats.requests)).not.toContain('A-77');
    // pos-1 and pos-2 came after newer values for all their attributes: superseded, not applied.
    expect(await running.pipeline.store.stats()).toEqual({ events_applied: 3, events_superseded: 2 });
  });
});
