import { describe, expect, it } from 'vitest';
import type { DeliveryLogEntry } from '../../../src/coalesce/delivery-log.js';
import {
  deliveryOf,
  eventAttributes,
  parseMarker,
  parseStamp,
  type VisitorRecords,
} from '../../../src/lineage/lineage.js';
import { stamp } from '../../../src/redis/keys.js';

const T = Date.UTC(2026, 10, 20, 12);

function records(parts: Partial<VisitorRecords>): VisitorRecords {
  return { pending: {}, inFlight: {}, delivered: {}, dueAt: null, deliveries: [], ...parts };
}

function accepted(at: number, attributes: Record<string, string>, answer: DeliveryLogEntry['answer'] = 'accepted') {
  return { at, route: 'single', batchId: null, answer, detail: null, rowsFailed: 0, attributes } as DeliveryLogEntry;
}

describe('lineage, pure', () => {
  it('reads markers: taken in, merged with lineage, and the bare marker of older versions', () => {
    expect(parseMarker('t')).toEqual({ state: 'queued' });
    // Intake with one shard writes the number of the ingest job that carries the event.
    expect(parseMarker('1234')).toEqual({ state: 'queued' });
    expect(parseMarker(`a3${T.toString(36)}|${(T - 5).toString(36)}|3p:CRM|with|bars`)).toEqual({
      state: 'merged',
      merge: 'superseded',
      receivedAtMs: T,
      occurredAtMs: T - 5,
      vk: '3p:CRM|with|bars',
    });
    expect(parseMarker('a1')).toMatchObject({ merge: 'applied', receivedAtMs: null, vk: null });
    expect(parseMarker('a')).toEqual({
      state: 'merged',
      merge: null,
      receivedAtMs: null,
      occurredAtMs: null,
      vk: null,
    });
    expect(parseMarker('x')).toBeUndefined();
    expect(parseStamp(stamp(T, 'e-1'))).toEqual({ occurredAt: new Date(T).toISOString(), eventId: 'e-1' });
    expect(parseStamp('garbage')).toBeUndefined();
  });

  it("places an event's values: delivered, still pending, replaced by a newer event; older attributes are not its", () => {
    const mine = stamp(T, 'e-1');
    const view = eventAttributes(
      records({
        delivered: { tier: mine, 'v:tier': 'gold', store: stamp(T + 1, 'e-2'), older: stamp(T - 1, 'e-0') },
        pending: { 's:points': mine, 'v:points': '5', 's:tier': stamp(T + 9, 'e-9'), 'v:tier': 'silver' },
      }),
      mine,
    );
    expect(view).toEqual([
      { name: 'points', status: 'pending', replacedBy: null },
      { name: 'store', status: 'replaced', replacedBy: { eventId: 'e-2', occurredAt: new Date(T + 1).toISOString() } },
      { name: 'tier', status: 'delivered', replacedBy: { eventId: 'e-9', occurredAt: new Date(T + 9).toISOString() } },
    ]);
  });

  it('finds the accepted delivery that carried the event, else the first one of newer values after it', () => {
    const mine = stamp(T, 'e-1');
    const failed = accepted(1, { tier: mine }, 'failed');
    const carried = accepted(2, { tier: mine });
    const newer = accepted(3, { tier: stamp(T + 1, 'e-2') });
    // The log is newest first.
    expect(deliveryOf([newer, carried, failed], mine)).toBe(carried);
    expect(deliveryOf([newer, failed], mine)).toBe(failed);
    expect(deliveryOf([newer], mine)).toBe(newer);
    expect(deliveryOf([accepted(4, { tier: stamp(T - 1, 'e-0') })], mine)).toBeUndefined();
  });
});
