import { describe, expect, it } from 'vitest';
import { resolveMapping, validateEvent, type ValidationResult } from '../../../src/events/index.js';

const mapping = resolveMapping();
const NOW = Date.parse('2026-11-21T12:00:00.000Z');
const CARD = '6011000990139424';

function validate(input: unknown, maxValueLength?: number): ValidationResult {
  return validateEvent(input, mapping, { now: NOW, maxValueLength });
}

function event(
  type: string,
  data: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    id: 'pos-eu-7-000123',
    type,
    occurredAt: '2026-11-21T10:15:00.000Z',
    visitor: { mbox3rdPartyId: 'CRM-88412' },
    data,
    ...extra,
  };
}

function attributesOf(input: unknown): Record<string, string> {
  const result = validate(input);
  if (!result.ok) throw new Error(`expected a valid event, got: ${result.errors.join(' | ')}`);
  return result.event.attributes;
}

function errorsOf(input: unknown, maxValueLength?: number): string[] {
  const result = validate(input, maxValueLength);
  if (result.ok) throw new Error('expected the event to be rejected');
  return result.errors;
}

describe('validateEvent: the four default event types', () => {
  it('maps kiosk_visit', () => {
    expect(attributesOf(event('kiosk_visit', { kioskId: 'K-7', location: 'Lyon Part-Dieu' }))).toEqual({
      kioskLastVisitAt: '2026-11-21T10:15:00.000Z',
      kioskLastId: 'K-7',
      kioskLastLocation: 'Lyon Part-Dieu',
    });
  });

  it('maps loan_funded, with the constant status and the amount as a decimal string', () => {
    expect(
      attributesOf(event('loan_funded', { loanId: 'L1', amount: 12500.5, currency: 'EUR', product: 'auto' })),
    ).toEqual({
      loanStatus: 'funded',
      loanLastFundedAt: '2026-11-21T10:15:00.000Z',
      loanLastAmount: '12500.5',
      loanLastCurrency: 'EUR',
      loanLastProduct: 'auto',
    });
  });

  it('maps loyalty_card_used and never maps the private cardId', () => {
    const attributes = attributesOf(
      event('loyalty_card_used', { storeId: 'S12', points: 120, tier: 'gold', cardId: CARD }),
    );
    expect(attributes).toEqual({
      loyaltyLastUsedAt: '2026-11-21T10:15:00.000Z',
      loyaltyLastStoreId: 'S12',
      loyaltyLastPoints: '120',
      loyaltyTier: 'gold',
    });
    expect(JSON.stringify(attributes)).not.toContain(CARD);
  });

  it('maps call_centre_contact and never maps the private agentId', () => {
    const attributes = attributesOf(
      event('call_centre_contact', { reason: 'billing', outcome: 'resolved', agentId: 'AG-991' }),
    );
    expect(attributes).toEqual({
      callCentreLastContactAt: '2026-11-21T10:15:00.000Z',
      callCentreLastReason: 'billing',
      callCentreLastOutcome: 'resolved',
    });
    expect(JSON.stringify(attributes)).not.toContain('AG-991');
  });

  it('sets nothing for absent, null or empty optional fields', () => {
    expect(attributesOf(event('kiosk_visit', { kioskId: 'K-7' }))).toEqual({
      kioskLastVisitAt: '2026-11-21T10:15:00.000Z',
      kioskLastId: 'K-7',
    });
    expect(attributesOf(event('loan_funded', { loanId: 'L1', amount: 10, currency: null, product: '' }))).toEqual({
      loanStatus: 'funded',
      loanLastFundedAt: '2026-11-21T10:15:00.000Z',
      loanLastAmount: '10',
    });
  });

  it('returns the id, type, UTC time and visitor of a valid event', () => {
    const result = validate(
      event('kiosk_visit', { kioskId: 'K-7' }, { visitor: { mboxPC: '1368007744041-575948.01_00' } }),
    );
    expect(result).toMatchObject({
      ok: true,
      event: {
        id: 'pos-eu-7-000123',
        type: 'kiosk_visit',
        occurredAtMs: Date.parse('2026-11-21T10:15:00.000Z'),
        visitor: { kind: 'pcId', id: '1368007744041-575948.01_00' },
      },
    });
  });

  it('ignores unknown data fields and never maps them', () => {
    const attributes = attributesOf(event('kiosk_visit', { kioskId: 'K-7', till: 4, operatorNote: 'x' }));
    expect(Object.keys(attributes).sort()).toEqual(['kioskLastId', 'kioskLastVisitAt']);
  });
});

describe('validateEvent: value formatting', () => {
  const amountOf = (amount: number): string | undefined =>
    attributesOf(event('loan_funded', { loanId: 'L1', amount })).loanLastAmount;

  it('writes numbers as plain decimals, never with an exponent', () => {
    expect(amountOf(1e21)).toBe('1000000000000000000000');
    expect(amountOf(1.5e-7)).toBe('0.00000015');
    expect(amountOf(-0)).toBe('0');
    expect(amountOf(-12.25)).toBe('-12.25');
  });

  it('rejects NaN and Infinity (possible through the in-process SDK)', () => {
    expect(errorsOf(event('loan_funded', { loanId: 'L1', amount: Number.NaN }))).toEqual([
      'data.amount: expected a finite number, got NaN',
    ]);
    expect(errorsOf(event('loan_funded', { loanId: 'L1', amount: Number.POSITIVE_INFINITY }))).toEqual([
      'data.amount: expected a finite number, got Infinity',
    ]);
  });

  it('normalises occurredAt with an offset to UTC with milliseconds', () => {
    const at = (occurredAt: string): string | undefined =>
      attributesOf(event('kiosk_visit', { kioskId: 'K' }, { occurredAt })).kioskLastVisitAt;
    expect(at('2026-11-21T11:15:00+01:00')).toBe('2026-11-21T10:15:00.000Z');
    expect(at('2026-11-21T05:15:00.5-0500')).toBe('2026-11-21T10:15:00.500Z');
    expect(at('2026-11-21T10:15Z')).toBe('2026-11-21T10:15:00.000Z');
  });
});

describe('validateEvent: rejections, with the message a producer sees', () => {
  it('lists the known types for an unknown type', () => {
    expect(errorsOf(event('kiosk_vist', { kioskId: 'K' }))).toEqual([
      'type: unknown event type "kiosk_vist"; known types: call_centre_contact, kiosk_visit, loan_funded, loyalty_card_used',
    ]);
  });

  it('names a missing required field and the type that needs it', () => {
    expect(errorsOf(event('kiosk_visit', { location: 'Lyon' }))).toEqual(['data.kioskId: required for kiosk_visit']);
  });

  it('quotes a value of the wrong type', () => {
    expect(errorsOf(event('loan_funded', { loanId: 'L1', amount: '12,50' }))).toEqual([
      'data.amount: expected a number, got "12,50"',
    ]);
    expect(errorsOf(event('kiosk_visit', { kioskId: 7 }))).toEqual(['data.kioskId: expected a string, got 7']);
  });

  it('refuses an occurredAt without a timezone or that does not parse', () => {
    expect(errorsOf(event('kiosk_visit', { kioskId: 'K' }, { occurredAt: '21/11/2026' }))).toEqual([
      'occurredAt: expected an ISO-8601 timestamp with a timezone, got "21/11/2026"',
    ]);
    expect(errorsOf(event('kiosk_visit', { kioskId: 'K' }, { occurredAt: '2026-11-21T10:15:00' }))).toEqual([
      'occurredAt: expected an ISO-8601 timestamp with a timezone, got "2026-11-21T10:15:00"',
    ]);
    expect(errorsOf(event('kiosk_visit', { kioskId: 'K' }, { occurredAt: '2026-02-30T10:15:00Z' }))).toHaveLength(1);
  });

  it('refuses an occurredAt more than a day ahead of the server clock, and accepts one just under', () => {
    expect(errorsOf(event('kiosk_visit', { kioskId: 'K' }, { occurredAt: '2026-11-22T12:00:00.001Z' }))).toEqual([
      "occurredAt: 2026-11-22T12:00:00.001Z is more than 1 day ahead of the server clock (2026-11-21T12:00:00.000Z); check the sending system's clock",
    ]);
    expect(validate(event('kiosk_visit', { kioskId: 'K' }, { occurredAt: '2026-11-22T12:00:00.000Z' })).ok).toBe(true);
  });

  it('refuses an occurredAt before 1970 (a clock never set), and accepts the epoch itself', () => {
    expect(errorsOf(event('kiosk_visit', { kioskId: 'K' }, { occurredAt: '1900-01-01T00:00:00Z' }))).toEqual([
      "occurredAt: 1900-01-01T00:00:00.000Z is before 1970-01-01T00:00:00.000Z; check the sending system's clock",
    ]);
    expect(
      errorsOf(event('kiosk_visit', { kioskId: 'K' }, { occurredAt: '1970-01-01T00:59:59.999+01:00' })),
    ).toHaveLength(1);
    expect(validate(event('kiosk_visit', { kioskId: 'K' }, { occurredAt: '1970-01-01T00:00:00Z' })).ok).toBe(true);
  });

  it('refuses a mapped value longer than 256 characters, naming the field, attribute and length', () => {
    expect(errorsOf(event('kiosk_visit', { kioskId: 'K', location: 'x'.repeat(300) }))).toEqual([
      'data.location: is 300 characters long; Target accepts at most 256 (attribute kioskLastLocation)',
    ]);
    expect(validate(event('kiosk_visit', { kioskId: 'K', location: 'x'.repeat(256) })).ok).toBe(true);
  });

  it('honours a configured maxValueLength, and counts an emoji as one character', () => {
    expect(errorsOf(event('kiosk_visit', { kioskId: 'K'.repeat(31) }), 30)).toEqual([
      'data.kioskId: is 31 characters long; Target accepts at most 30 (attribute kioskLastId)',
    ]);
    // Every mapped value counts, the timestamp too.
    expect(errorsOf(event('kiosk_visit', { kioskId: 'K' }), 20)).toEqual([
      'occurredAt: is 24 characters long; Target accepts at most 20 (attribute kioskLastVisitAt)',
    ]);
    expect(validate(event('kiosk_visit', { kioskId: '😀'.repeat(256) })).ok).toBe(true);
  });

  it('does not length-check unmapped fields', () => {
    expect(validate(event('kiosk_visit', { kioskId: 'K', note: 'x'.repeat(1000) })).ok).toBe(true);
  });

  it('returns every error of an event at once', () => {
    const input = {
      id: '',
      type: 'loan_funded',
      occurredAt: 'yesterday',
      visitor: { mboxPC: 'a', mbox3rdPartyId: 'b' },
      source: 'pos-eu',
      data: { amount: '12,50', currency: { code: 'EUR' } },
    };
    expect(errorsOf(input)).toEqual([
      'id: must not be empty',
      'occurredAt: expected an ISO-8601 timestamp with a timezone, got "yesterday"',
      'visitor: send exactly one of mboxPC or mbox3rdPartyId, not both',
      'data.currency: expected a string, number, boolean or null, got an object',
      'source: not accepted in the event body; the source is taken from the API key',
      'data.loanId: required for loan_funded',
      'data.amount: expected a number, got "12,50"',
    ]);
  });

  it('never echoes a private field (a card number), even when it has the wrong type', () => {
    const errors = errorsOf(event('loyalty_card_used', { storeId: 'S1', cardId: Number(CARD) }));
    expect(errors).toEqual(['data.cardId: expected a string, got a number (value hidden: private field)']);
    expect(errors.join('\n')).not.toContain(CARD);
  });

  it('never echoes more than 40 characters of a value', () => {
    const long = `${'1234567890'.repeat(5)}-tail`;
    const [error] = errorsOf(event('loan_funded', { loanId: 'L', amount: long }));
    expect(error).toBe(`data.amount: expected a number, got "${'1234567890'.repeat(4)}…"`);
  });

  it('refuses input that is not an object', () => {
    expect(errorsOf([])).toEqual(['event: expected a JSON object, got an array']);
    expect(errorsOf('{"id":1}')).toEqual(['event: expected a JSON object, got "{\\"id\\":1}"']);
  });

  it('refuses data that is not an object', () => {
    expect(errorsOf(event('kiosk_visit', [] as unknown as Record<string, unknown>))).toEqual([
      'data: expected an object, got an array',
    ]);
  });
});

describe('Unicode that cannot be delivered', () => {
  it('rejects a value with an unpaired surrogate, naming the field, and accepts real pairs', () => {
    const base = {
      id: 'u1',
      type: 'call_centre_contact',
      occurredAt: '2026-11-21T10:00:00Z',
      visitor: { mbox3rdPartyId: 'CRM-1' },
    };
    const bad = validateEvent({ ...base, data: { reason: 'broken \uD800 text' } }, mapping, { now: NOW });
    expect(bad).toEqual({
      ok: false,
      errors: ['data.reason: contains invalid Unicode (an unpaired surrogate); send well-formed UTF-8 text'],
    });
    const good = validateEvent({ ...base, data: { reason: 'rocket 🚀' } }, mapping, { now: NOW });
    expect(good.ok).toBe(true);
  });
});
