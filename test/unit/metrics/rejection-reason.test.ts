import { describe, expect, it } from 'vitest';
import { resolveMapping, validateEvent } from '../../../src/events/index.js';
import { Metrics, rejectionReason, rejectionReasons } from '../../../src/metrics/metrics.js';

const CARD = '4111111111111111';
const NOW = Date.parse('2026-11-21T12:00:00Z');
const good = {
  id: 'ev-1',
  type: 'loyalty_card_used',
  occurredAt: '2026-11-21T10:00:00Z',
  visitor: { mbox3rdPartyId: 'CRM-1' },
  data: { storeId: 'S1' },
};

/** The first error intake would give for this event, as the metrics see it. */
function firstError(event: unknown, mapping = resolveMapping()): string {
  const result = validateEvent(event, mapping, { now: NOW });
  if (result.ok) throw new Error('expected a rejection');
  return result.errors[0] ?? '';
}

describe('rejection reasons as metric labels', () => {
  it('turns unknown keys into unknown_field, whatever the producer named them', () => {
    const cases: unknown[] = [
      { ...good, [CARD]: 'x' },
      { ...good, 'card 4111 1111 1111 1111': 'x' },
      { ...good, 'a: b': 1 },
      { ...good, 'data.storeId': 'S1' },
      { ...good, source: 'pos' },
      { ...good, visitor: { mbox3rdPartyId: 'CRM-1', [CARD]: 'x' } },
      { ...good, visitor: { mbox3rdPartyId: 'CRM-1', 'x": unknown field': 'x' } },
    ];
    for (const event of cases) {
      const error = firstError(event);
      expect(rejectionReason(error), error).toBe('unknown_field');
    }
  });

  it('keeps the envelope paths and the data fields the mapping declares, folds other data keys to data', () => {
    expect(rejectionReason(firstError({ ...good, id: '' }))).toBe('id');
    expect(rejectionReason(firstError({ ...good, type: 'till_opened' }))).toBe('type');
    expect(rejectionReason(firstError({ ...good, occurredAt: 'yesterday' }))).toBe('occurredAt');
    expect(rejectionReason(firstError({ ...good, visitor: {} }))).toBe('visitor');
    expect(rejectionReason(firstError({ ...good, visitor: { mbox3rdPartyId: 'CRM+1' } }))).toBe(
      'visitor.mbox3rdPartyId',
    );
    expect(rejectionReason(firstError({ ...good, visitor: { mboxPC: 'a b' } }))).toBe('visitor.mboxPC');
    expect(rejectionReason(firstError({ ...good, data: [] }))).toBe('data');
    expect(rejectionReason(firstError({ ...good, data: { storeId: 'S1', points: '12,50' } }))).toBe('data.points');
    expect(rejectionReason(firstError({ ...good, data: { storeId: 'S1', cardId: 4111 } }))).toBe('data.cardId');
    // Keys the mapping does not know are ignored when scalar, refused when not: never a label.
    expect(rejectionReason(firstError({ ...good, data: { storeId: 'S1', [CARD]: {} } }))).toBe('data');
    expect(rejectionReason(firstError({ ...good, data: { storeId: 'S1', 'pin-0000': [] } }))).toBe('data');
    expect(rejectionReason(firstError('not an event'))).toBe('event');
    expect(rejectionReason('body: line 3 is not JSON')).toBe('body');
  });

  it('never returns producer text: arbitrary strings map into the fixed set', () => {
    const allowed = rejectionReasons(resolveMapping());
    const fallbacks = new Set(['unknown_field', 'data', 'visitor', 'event']);
    const inputs = [
      `${CARD}: expected a string`,
      `data.${CARD}: expected a string, number, boolean or null, got an object`,
      `visitor.${CARD}: needs mboxPC`,
      `data.storeId.${CARD}: x`,
      `data[0]: x`,
      'no colon at all',
      '',
      ': leading colon',
      `"${CARD}": unknown field`,
      'events.kiosk_visit: x',
      'id.extra: x',
      `type ${CARD}: x`,
    ];
    for (const input of inputs) {
      const reason = rejectionReason(input);
      expect(allowed.has(reason) || fallbacks.has(reason), `${input} -> ${reason}`).toBe(true);
      expect(reason).not.toContain(CARD);
    }
    expect(rejectionReason(`data.${CARD}: x`)).toBe('data');
    expect(rejectionReason('visitor.pin: x')).toBe('visitor');
  });

  it("follows the mapping it is given: its fields are labels, the defaults' are not", () => {
    const custom = resolveMapping({
      mode: 'replace',
      events: {
        till_opened: {
          data: { tillId: { type: 'string', required: true } },
          attributes: { tillLastId: { from: 'data.tillId' } },
        },
      },
    });
    const reasons = rejectionReasons(custom);
    expect(rejectionReason(firstError({ ...good, type: 'till_opened', data: {} }, custom), reasons)).toBe(
      'data.tillId',
    );
    expect(rejectionReason('data.points: expected a number', reasons)).toBe('data');
    expect([...reasons].sort()).toEqual([
      'body',
      'data',
      'data.tillId',
      'event',
      'id',
      'occurredAt',
      'type',
      'unknown_field',
      'visitor',
      'visitor.ecid',
      'visitor.mbox3rdPartyId',
      'visitor.mboxPC',
    ]);
  });

  it('exposes no card-number key on /metrics when intake counts such a rejection', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.recordIntake('pos', {
      accepted: 0,
      duplicates: 0,

      rejected: [
        { index: 0, errors: [firstError({ ...good, [CARD]: 'x' })] },
        { index: 1, errors: [`data.${CARD}: expected a string, number, boolean or null, got an object`] },
        { index: 2, errors: [] },
      ],
    });
    const text = await metrics.registry.metrics();
    expect(text).not.toContain(CARD);
    expect(text).toContain('ti_events_rejected_total{source="pos",reason="unknown_field"} 1');
    expect(text).toContain('ti_events_rejected_total{source="pos",reason="data"} 1');
    expect(text).toContain('ti_events_rejected_total{source="pos",reason="event"} 1');
  });
});
