import { describe, expect, it } from 'vitest';
import { diffProfiles, findOvertaking, oracleProfiles } from '../harness/oracle.js';

const NOW = Date.parse('2026-11-22T00:00:00.000Z');
const visitor = { mbox3rdPartyId: 'CRM-1' };

function tier(id: string, occurredAt: string, value: string) {
  return { id, type: 'loyalty_card_used', occurredAt, visitor, data: { storeId: 'S1', tier: value } };
}

// The oracle decides what the end-to-end tests expect, so it is tested on its own.
describe('test oracle', () => {
  it('keeps the value of the greatest (occurredAt, id), ids compared as UTF-8 bytes', () => {
    const profiles = oracleProfiles(
      [
        tier('b', '2026-11-21T09:30:00Z', 'silver'),
        tier('c', '2026-11-21T09:00:00Z', 'bronze'),
        // Same time: in UTF-16 "ｚ" (U+FF5A) sorts after "😀" (a surrogate pair); in UTF-8 bytes, before.
        tier('a-ｚ', '2026-11-21T12:00:00+02:00', 'gold'),
        tier('a-😀', '2026-11-21T10:00:00Z', 'platinum'),
      ],
      { now: NOW },
    );
    expect(profiles.get('3p:CRM-1')).toMatchObject({
      loyaltyTier: 'platinum',
      loyaltyLastUsedAt: '2026-11-21T10:00:00.000Z',
    });
  });

  it('refuses an invalid event instead of guessing', () => {
    expect(() => oracleProfiles([{ id: 'x', type: 'nope', occurredAt: 'yesterday', visitor }], { now: NOW })).toThrow(
      /invalid event/,
    );
  });

  it('lists every difference from what Target holds', () => {
    const want = new Map([['3p:CRM-1', { a: '1', b: '2' }]]);
    const got = new Map<string, Record<string, string>>([
      ['3p:CRM-1', { a: '1', b: '3' }],
      ['3p:CRM-2', { a: '1' }],
    ]);
    expect(diffProfiles(want, got)).toEqual([
      '3p:CRM-1.b: want "2", Target has "3"',
      '3p:CRM-2: at Target but not in the oracle',
    ]);
  });

  it('flags a write of an older value after a newer one, and nothing else', () => {
    const events = [tier('e1', '2026-11-21T09:00:00Z', 'bronze'), tier('e2', '2026-11-21T10:00:00Z', 'gold')];
    const write = (value: string) => ({ vk: '3p:CRM-1', attributes: { loyaltyTier: value } });
    expect(findOvertaking(events, [write('bronze'), write('gold'), write('gold')], { now: NOW })).toEqual([]);
    expect(findOvertaking(events, [write('gold'), write('bronze')], { now: NOW })).toEqual([
      '3p:CRM-1.loyaltyTier: "bronze" written after the newer "gold"',
    ]);
  });
});
