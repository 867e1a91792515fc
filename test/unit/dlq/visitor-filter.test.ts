import { describe, expect, it } from 'vitest';
import type { DeadLetter } from '../../../src/jobs/catalog.js';
import { onlyVisitor } from '../../../src/dlq/visitor-filter.js';

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
