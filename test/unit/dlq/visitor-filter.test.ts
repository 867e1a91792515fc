import { describe, expect, it } from 'vitest';
import type { DeadLetter } from '../../../src/jobs/catalog.js';
import { onlyVisitor, visitorKeysOf, withoutVisitors } from '../../../src/dlq/visitor-filter.js';
import { ingestEvents } from '../../../src/jobs/ingest-rows.js';

describe('onlyVisitor', () => {
  it("keeps one visitor's values and raw events of an entry, and counts the others it leaves out", () => {
    const entry = {
      stage: 'deliver-bulk' as const,
      error: { code: 'TARGET_HTTP_400', message: 'refused', kind: 'permanent' as const },
      attempts: 1,
      lastAttemptAt: 1,
      visitors: [
        { vk: '3p:CRM-1', attributes: { tier: { value: 'gold', stamp: 's1' } } },
        { vk: '3p:CRM-2', attributes: { tier: { value: 'silver', stamp: 's2' } } },
      ],
      events: [{ visitor: { mbox3rdPartyId: 'CRM-2' } }, { visitor: { mbox3rdPartyId: 'CRM-1' } }],
    };
    const mine = onlyVisitor(entry as unknown as DeadLetter, '3p:CRM-1');
    expect(mine.visitors?.map((v) => v.vk)).toEqual(['3p:CRM-1']);
    expect(mine.events).toEqual([{ visitor: { mbox3rdPartyId: 'CRM-1' } }]);
    expect(mine.othersOmitted).toBe(2);
    expect(JSON.stringify(mine)).not.toContain('CRM-2');
  });
});

describe('a whole ingest job in rows, dead-lettered as one item by a map worker of an earlier release', () => {
  const row = (id: string, visitor: string) => [
    id,
    'loyalty_card_used',
    '2026-12-07T10:00:00Z',
    { mbox3rdPartyId: visitor },
    { storeId: 'S-1', cardId: `card-of-${visitor}` },
  ];
  const letter = {
    stage: 'map' as const,
    source: 'pos',
    error: { class: 'JobDataError', code: 'MAP_FAILED', message: 'job has invalid data: events: Required' },
    attempts: 1,
    lastAttemptAt: 1,
    events: [{ source: 'pos', receivedAt: 1, rows: [row('e1', 'CRM-1'), row('e2', 'CRM-2')], checkedEnvelope: 1 }],
  } as unknown as DeadLetter;

  it('erasure finds and removes a visitor inside it, keeping the others as events', () => {
    expect(visitorKeysOf(letter).sort()).toEqual(['3p:CRM-1', '3p:CRM-2']);
    const left = withoutVisitors(letter, new Set(['3p:CRM-1']));
    expect(JSON.stringify(left)).not.toContain('CRM-1');
    expect(left?.events).toEqual([ingestEvents({ rows: [row('e2', 'CRM-2')] })[0]]);
    expect(withoutVisitors(letter, new Set(['3p:CRM-9']))).toBeUndefined();
  });

  it("a visitor's lineage shows only that visitor's events of it", () => {
    const mine = onlyVisitor(letter, '3p:CRM-2');
    expect(mine.events).toEqual(ingestEvents({ rows: [row('e2', 'CRM-2')] }));
    expect(mine.othersOmitted).toBe(1);
    expect(JSON.stringify(mine)).not.toContain('CRM-1');
  });
});
