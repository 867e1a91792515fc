import { describe, expect, it } from 'vitest';
import type { VisitorSnapshot } from '../../../src/coalesce/in-flight.js';
import { bulkSafe, bulkShare, planBulkVisitor } from '../../../src/deliver/bulk-rows.js';

function snapshot(vk: string, values: Record<string, string>, delivered: Record<string, string> = {}): VisitorSnapshot {
  return {
    vk,
    attributes: new Map(
      Object.entries(values).map(([name, value]) => [name, { value, stamp: `000000000000001|${name}` }]),
    ),
    ...(Object.keys(delivered).length > 0 ? { delivered: new Map(Object.entries(delivered)) } : {}),
  };
}

describe('bulk rows', () => {
  it('knows which characters have no documented bulk encoding', () => {
    for (const text of ['50% off', 'a,b', 'say "hi"', 'line\nbreak', 'cr\r']) expect(bulkSafe(text), text).toBe(false);
    for (const text of ['plain', 'a+b=c&d', '2026-11-21T10:00:00.000Z', 'é中🚀', "it's; #1 / ok?"])
      expect(bulkSafe(text), text).toBe(true);
  });

  it('carries every delivered value again, overlaid with the new ones (the v2 override)', () => {
    const plan = planBulkVisitor(
      snapshot('3p:CRM-1', { tier: 'gold' }, { tier: 'silver', points: '120', kioskLastId: 'K7' }),
      true,
      'v1',
    );
    expect(plan).toEqual({
      kind: 'row',
      values: new Map([
        ['tier', 'gold'],
        ['points', '120'],
        ['kioskLastId', 'K7'],
      ]),
      rest: false,
    });
  });

  it('leaves values a cell cannot carry for a single update after the row', () => {
    const s = snapshot('3p:CRM-1', { reason: '50% off', at: '2026-11-21T10:00:00.000Z' }, { tier: 'gold' });
    expect(planBulkVisitor(s, true, 'v1')).toEqual({
      kind: 'row',
      values: new Map([
        ['tier', 'gold'],
        ['at', '2026-11-21T10:00:00.000Z'],
      ]),
      rest: true,
    });
    expect([...bulkShare(s).attributes.keys()]).toEqual(['at']);
  });

  // A row that cannot carry a delivered value could override it (strictest reading).
  it('sends a known visitor with a delivered value no cell can carry by single updates whole; an unknown one gets a row without it', () => {
    const s = snapshot('3p:CRM-1', { at: '2026-11-21T10:00:00.000Z' }, { outcome: 'a,b', tier: 'gold' });
    expect(planBulkVisitor(s, true, 'v1')).toEqual({ kind: 'single' });
    expect(planBulkVisitor(s, false, 'v1')).toEqual({
      kind: 'row',
      values: new Map([
        ['tier', 'gold'],
        ['at', '2026-11-21T10:00:00.000Z'],
      ]),
      rest: false,
    });
  });

  it('sends only-unencodable values by single update when the profile exists, and refuses them when it may not', () => {
    expect(planBulkVisitor(snapshot('3p:CRM-1', { reason: 'a,b' }), true, 'v2')).toEqual({ kind: 'single' });
    expect(planBulkVisitor(snapshot('pc:1-2.01_00', { reason: 'a,b' }), false, 'v2')).toEqual({ kind: 'single' });
    expect(planBulkVisitor(snapshot('3p:CRM-1', { reason: 'a,b' }), false, 'v2')).toEqual({ kind: 'not-encodable' });
    // An id a cell cannot carry: no row at all.
    expect(planBulkVisitor(snapshot('3p:CRM,1', { tier: 'gold' }), false, 'v2')).toEqual({ kind: 'not-encodable' });
    expect(planBulkVisitor(snapshot('3p:CRM%1', { tier: 'gold' }), true, 'v2')).toEqual({ kind: 'single' });
  });

  it('keeps pcIds on single updates when BULK_PCID_ROUTE=single', () => {
    expect(planBulkVisitor(snapshot('pc:1-2.01_00', { tier: 'gold' }), true, 'single')).toEqual({ kind: 'single' });
    expect(planBulkVisitor(snapshot('pc:1-2.01_00', { tier: 'gold' }), true, 'v1')).toMatchObject({ kind: 'row' });
  });
});
