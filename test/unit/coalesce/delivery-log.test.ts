import { describe, expect, it } from 'vitest';
import {
  decodeDeliveryEntries,
  encodeDeliveryEntry,
  type DeliveryLogEntry,
} from '../../../src/coalesce/delivery-log.js';
import { stamp } from '../../../src/redis/keys.js';

const T = Date.UTC(2026, 11, 7, 9, 30);

describe('delivery log entries', () => {
  it('read back as written, attributes grouped by event, in far fewer bytes than plain JSON', () => {
    const entry: DeliveryLogEntry = {
      at: T,
      route: 'bulk',
      batchId: 'b-0042',
      answer: 'accepted',
      detail: null,
      rowsFailed: 0,
      attributes: {
        loyaltyLastPoints: stamp(T - 5000, 'till7-000123'),
        loyaltyLastStoreId: stamp(T - 5000, 'till7-000123'),
        loyaltyTier: stamp(T - 5000, 'till7-000123'),
        kioskLastVisitAt: stamp(T - 9000, 'kiosk|with|bars'),
      },
    };
    const stored = encodeDeliveryEntry(entry);
    expect(decodeDeliveryEntries([stored], T, 60_000)).toEqual([entry]);
    expect(stored.length).toBeLessThan(JSON.stringify(entry).length * 0.6);
    const failed: DeliveryLogEntry = {
      ...entry,
      route: 'single',
      batchId: null,
      answer: 'failed',
      detail: 'dead-lettered: TARGET_REJECTED (HTTP 400)',
      rowsFailed: 1,
    };
    expect(decodeDeliveryEntries([encodeDeliveryEntry(failed)], T, 60_000)).toEqual([failed]);
  });

  it('skips entries past the retention and unreadable ones, keeping the rest', () => {
    const entry = (at: number): string =>
      encodeDeliveryEntry({
        at,
        route: 'single',
        batchId: null,
        answer: 'accepted',
        detail: null,
        rowsFailed: 0,
        attributes: {},
      });
    const read = decodeDeliveryEntries([entry(T), 'not json', '{"x":1}', entry(T - 120_000)], T, 60_000);
    expect(read.map((e) => e.at)).toEqual([T]);
  });
});
