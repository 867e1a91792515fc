import { describe, expect, it } from 'vitest';
import { matchesFilter, parseFilter } from '../../../src/dlq/filters.js';
import { UNKNOWN_SOURCE, type DeadLetter } from '../../../src/jobs/catalog.js';

const at = Date.UTC(2026, 10, 21);
const base = {
  error: { class: 'X', code: 'TARGET_HTTP_400', message: 'm' },
  attempts: 1,
  firstAttemptAt: at,
  lastAttemptAt: at,
};
const mapEntry: DeadLetter = { ...base, stage: 'map', source: 'pos', events: [{ id: 'e-1' }] };
const deliveryEntry: DeadLetter = { ...base, stage: 'deliver-single', source: UNKNOWN_SOURCE, visitors: [] };
/** Written before sources were recorded for delivery stages. */
const legacyEntry: DeadLetter = { ...base, stage: 'deliver-bulk', visitors: [] };

/** A delivery whose visitor values came from two producers. */
const mixedEntry: DeadLetter = {
  ...base,
  stage: 'deliver-bulk',
  source: UNKNOWN_SOURCE,
  sources: ['kiosk', 'pos'],
  visitors: [],
};
/** A delivery whose values all came from one producer. */
const posDelivery: DeadLetter = { ...base, stage: 'deliver-single', source: 'pos', sources: ['pos'], visitors: [] };

describe('dead-letter filter by the sources of a delivery', () => {
  it('a producer matches deliveries that carry its values, alone or mixed with others', () => {
    const filter = parseFilter({ source: 'pos' });
    expect([mapEntry, mixedEntry, posDelivery, deliveryEntry].filter((e) => matchesFilter(e, filter))).toEqual([
      mapEntry,
      mixedEntry,
      posDelivery,
    ]);
    expect(matchesFilter(mixedEntry, parseFilter({ source: 'kiosk' }))).toBe(true);
    expect(matchesFilter(posDelivery, parseFilter({ source: 'kiosk' }))).toBe(false);
  });
});

describe('dead-letter filter by source', () => {
  it('a producer source matches only the entries that producer sent', () => {
    const filter = parseFilter({ source: 'pos' });
    expect([mapEntry, deliveryEntry, legacyEntry].filter((e) => matchesFilter(e, filter)).map((e) => e.stage)).toEqual([
      'map',
    ]);
  });

  it('"unknown" finds the delivery-stage entries, old ones without a source included', () => {
    const filter = parseFilter({ source: UNKNOWN_SOURCE });
    expect([mapEntry, deliveryEntry, legacyEntry].filter((e) => matchesFilter(e, filter)).map((e) => e.stage)).toEqual([
      'deliver-single',
      'deliver-bulk',
    ]);
  });

  it('combines with the other fields', () => {
    expect(matchesFilter(deliveryEntry, parseFilter({ source: UNKNOWN_SOURCE, stage: 'deliver-bulk' }))).toBe(false);
    expect(
      matchesFilter(deliveryEntry, parseFilter({ source: UNKNOWN_SOURCE, code: 'TARGET_HTTP_400', since: String(at) })),
    ).toBe(true);
  });
});
