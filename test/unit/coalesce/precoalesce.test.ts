import { describe, expect, it } from 'vitest';
import type { ValidEvent } from '../../../src/events/index.js';
import { eventNewer, newestPerVisitor } from '../../../src/coalesce/precoalesce.js';

const ev = (id: string, at: number, visitor: string, attributes: Record<string, string>): ValidEvent => ({
  id,
  type: 't',
  occurredAtMs: at,
  visitor: { kind: 'thirdPartyId', id: visitor },
  attributes,
});

describe('newest value per visitor and attribute within one merge call', () => {
  it('keeps each attribute only on the newest event of its visitor, whatever the order', () => {
    const events = [
      ev('b', 2000, 'V1', { tier: 'gold', store: 'S2' }),
      ev('a', 1000, 'V1', { tier: 'silver', points: '10' }),
      ev('c', 3000, 'V1', { store: 'S3' }),
      ev('d', 500, 'V2', { tier: 'bronze' }),
    ];
    expect(newestPerVisitor(events)).toEqual([
      [['tier', 'gold']],
      [['points', '10']],
      [['store', 'S3']],
      [['tier', 'bronze']],
    ]);
  });

  it('leaves an event with nothing newer than a sibling without attributes', () => {
    const events = [ev('new', 2000, 'V1', { tier: 'gold' }), ev('old', 1000, 'V1', { tier: 'silver' })];
    expect(newestPerVisitor(events)).toEqual([[['tier', 'gold']], []]);
  });

  it('orders equal times by id bytes, as the merge script does', () => {
    expect(eventNewer({ occurredAtMs: 1, id: 'b' }, { occurredAtMs: 1, id: 'a' })).toBe(true);
    expect(eventNewer({ occurredAtMs: 1, id: 'ab' }, { occurredAtMs: 1, id: 'a' })).toBe(true);
    // UTF-16 order would put U+FF5E before U+1F600; byte order (as Lua compares) puts it after.
    expect(eventNewer({ occurredAtMs: 1, id: '\u{1F600}' }, { occurredAtMs: 1, id: '\uFF5E' })).toBe(true);
    expect(eventNewer({ occurredAtMs: 2, id: 'a' }, { occurredAtMs: 1, id: 'z' })).toBe(true);
  });

  it('lets a later copy of an id take nothing from the first, which is the one the merge applies (P2)', () => {
    // The resend changed its time: it must not strip the first copy's values, or neither lands.
    const resend = [ev('e1', 1000, 'V1', { a: '1' }), ev('e1', 5000, 'V1', { a: 'changed' })];
    expect(newestPerVisitor(resend)).toEqual([[['a', '1']], [['a', 'changed']]]);
  });
});
