import { describe, expect, it } from 'vitest';
import { DEAD_LETTER_MAX_ITEMS, partJobId, splitDeadLetter, visitorSources } from '../../../src/dlq/writer.js';
import { UNKNOWN_SOURCE, type DeadLetter } from '../../../src/jobs/catalog.js';

const at = Date.UTC(2026, 10, 21);
const base = {
  error: { class: 'X', code: 'BULK_BATCH_STUCK', message: 'stuck' },
  attempts: 3,
  firstAttemptAt: at - 1000,
  lastAttemptAt: at,
};

function visitor(i: number, source?: string) {
  return {
    vk: `3p:CRM-${i}`,
    attributes: { points: { value: String(i), stamp: `2026-11-21T10:00:00.000Z|e-${i}` } },
    ...(source !== undefined ? { sources: [source] } : {}),
  };
}

describe('splitDeadLetter: one failure of many visitors or events becomes parts of a bounded size', () => {
  it('the limit is a named 500', () => {
    expect(DEAD_LETTER_MAX_ITEMS).toBe(500);
  });

  it('leaves an entry within the limit alone and unchanged', () => {
    const entry: DeadLetter = { ...base, stage: 'deliver-bulk', source: 'pos', sources: ['pos'], visitors: [] };
    entry.visitors = Array.from({ length: DEAD_LETTER_MAX_ITEMS }, (_, i) => visitor(i, 'pos'));
    const parts = splitDeadLetter(entry, 'claim-1');
    expect(parts).toHaveLength(1);
    expect(parts[0]).toBe(entry);
    expect(parts[0]?.part).toBeUndefined();
  });

  it('splits 50,000 visitors of a stuck bulk claim into 100 parts of 500, in order, each telling which part of how many', () => {
    const visitors = Array.from({ length: 50_000 }, (_, i) => visitor(i, 'pos'));
    const entry: DeadLetter = { ...base, stage: 'deliver-bulk', source: 'pos', sources: ['pos'], visitors };
    const parts = splitDeadLetter(entry, 'claim-1');
    expect(parts).toHaveLength(100);
    parts.forEach((part, i) => {
      expect(part.part).toEqual({ n: i + 1, of: 100, group: 'claim-1' });
      expect(part.visitors).toHaveLength(500);
      // Everything needed to replay and filter it on its own.
      expect(part).toMatchObject({ stage: 'deliver-bulk', source: 'pos', sources: ['pos'], ...base });
    });
    expect(parts.flatMap((p) => p.visitors ?? [])).toEqual(visitors);
    // The original is not changed.
    expect(entry.part).toBeUndefined();
    expect(entry.visitors).toHaveLength(50_000);
  });

  it('splits events of a map or intake entry the same way; the last part holds the rest', () => {
    const events = Array.from({ length: 1201 }, (_, i) => ({ id: `e-${i}` }));
    const parts = splitDeadLetter({ ...base, stage: 'map', source: 'kiosk', events }, 'map-7-0');
    expect(parts.map((p) => p.events?.length)).toEqual([500, 500, 201]);
    expect(parts.map((p) => p.part?.n)).toEqual([1, 2, 3]);
    expect(parts.every((p) => p.source === 'kiosk' && p.visitors === undefined)).toBe(true);
    expect(parts.flatMap((p) => p.events ?? [])).toEqual(events);
    expect(splitDeadLetter({ ...base, stage: 'map', source: 'kiosk', events }, 'g', 1000)).toHaveLength(2);
  });

  it('narrows source and sources to the visitors of each part, when the entry was labelled from its visitors', () => {
    const visitors = [
      ...Array.from({ length: 500 }, (_, i) => visitor(i, 'pos')),
      ...Array.from({ length: 500 }, (_, i) => visitor(500 + i, 'kiosk')),
      ...Array.from({ length: 10 }, (_, i) => visitor(1000 + i)),
    ];
    const entry: DeadLetter = { ...base, stage: 'deliver-bulk', ...visitorSources(visitors), visitors };
    expect(entry).toMatchObject({ source: UNKNOWN_SOURCE, sources: ['kiosk', 'pos'] });
    const parts = splitDeadLetter(entry, 'claim-2');
    expect(parts.map((p) => [p.source, p.sources])).toEqual([
      ['pos', ['pos']],
      ['kiosk', ['kiosk']],
      [UNKNOWN_SOURCE, undefined],
    ]);
    // Labelled some other way: every part keeps the original's labels.
    const handMade = splitDeadLetter({ ...entry, source: 'crm', sources: ['crm'] }, 'claim-3');
    expect(handMade.every((p) => p.source === 'crm' && p.sources?.[0] === 'crm')).toBe(true);
  });

  it('refuses a limit that is not a whole number of at least 1, naming it', () => {
    const entry: DeadLetter = { ...base, stage: 'map', source: 'pos', events: [1, 2] };
    expect(() => splitDeadLetter(entry, 'g', 0)).toThrow(/^maxItems: expected a whole number of at least 1, got 0$/);
    expect(() => splitDeadLetter(entry, 'g', 1.5)).toThrow(/maxItems/);
  });

  it('part ids derive from the original id, and BullMQ takes them as custom ids (no single colon)', () => {
    expect(partJobId('map-12-3', 2)).toBe('map-12-3-part-2');
    expect(partJobId('claim-1', 10).split(':')).toHaveLength(1);
  });
});
