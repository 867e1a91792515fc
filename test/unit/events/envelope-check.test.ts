import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../harness/seeded-random.js';
import {
  EventSchema,
  checkEvent,
  envelopeTime,
  explainEvent,
  mapCheckedEvent,
  resolveMapping,
  validateEvent,
} from '../../../src/events/index.js';

/**
 * The compiled envelope check must accept exactly what the zod schema accepts (so intake
 * skips zod for valid events and still words every error as zod does). Envelopes are
 * generated from a seeded random source: each field is drawn from a pool of valid values,
 * near misses (one character too many, a forbidden character, an impossible date) and wrong
 * types, so most runs mix one or two faults into an otherwise good event.
 */

const NOW = Date.parse('2026-11-21T12:00:00.000Z');
const mapping = resolveMapping();
const ASTRAL = '\u{1F600}';

const random = seededRandom;

const ABSENT = Symbol('absent');
type Pool = readonly unknown[];

const WRONG_TYPES: Pool = [undefined, null, 7, true, [], {}, ['x']];
const IDS: Pool = [
  'pos-eu-7-000123',
  'a',
  'x'.repeat(128),
  'x'.repeat(129),
  ASTRAL.repeat(128),
  ASTRAL.repeat(129),
  '',
  'tab\there',
  'zero\u200bwidth',
  'line\u2028sep',
  'lone\ud800',
  'privé ünïcode',
  '+/&=%',
  ...WRONG_TYPES,
];
const TYPES: Pool = [
  'loyalty_card_used',
  'kiosk_visit',
  'loan_funded',
  'call_centre_contact',
  'unknown_type',
  'a'.repeat(64),
  'a'.repeat(65),
  '',
  'Kiosk',
  '9lives',
  'has-dash',
  ...WRONG_TYPES,
];
const TIMESTAMPS: Pool = [
  '2026-11-21T10:15:00.000Z',
  '2026-11-21T10:15:00Z',
  '2026-11-21T10:15+01:00',
  '2026-11-21t10:15:00.123456789+0530',
  '2026-11-21T10:15:00',
  '2026-02-30T10:15:00Z',
  '2024-02-29T00:00:00Z',
  '0999-01-01T00:00:00Z',
  '2026-11-21T24:00:00Z',
  '2026-11-21T10:15:00+24:00',
  '2026-11-23T12:00:00Z',
  '21/11/2026',
  '',
  ...WRONG_TYPES,
];
const PC_IDS: Pool = ['1368007744041-575948.01_00', 'a', 'x'.repeat(128), 'x'.repeat(129), 'has space', 'a&b=c', ''];
const THIRD_PARTY_IDS: Pool = [
  'CRM-88412',
  'x'.repeat(256),
  'x'.repeat(257),
  ASTRAL.repeat(256),
  'a+b',
  'a/b',
  'ctl\u0007',
  '',
  'ünï',
];
const ECIDS: Pool = ['12345678901234567890123456789012345678', '', 'x'.repeat(129), 'bad\u0000'];
const DATA_VALUES: Pool = [
  'S12',
  '',
  'lone\udc00',
  'pair\u{1F600}',
  120,
  0,
  -1.5,
  1e21,
  true,
  false,
  null,
  NaN,
  Infinity,
  {},
  [],
  ['a'],
  { n: 1 },
];
const DATA_KEYS = ['storeId', 'points', 'tier', 'cardId', 'kioskId', 'loanId', 'amount', 'reason', 'extra'];

function pick(next: () => number, pool: Pool): unknown {
  return pool[Math.floor(next() * pool.length)];
}

/** Usually the pool's first (valid) entry, sometimes any entry, sometimes absent. */
function field(next: () => number, pool: Pool, absentShare = 0.05): unknown {
  const r = next();
  if (r < absentShare) return ABSENT;
  return r < 0.7 ? pool[0] : pick(next, pool);
}

function put(target: Record<string, unknown>, key: string, value: unknown): void {
  if (value !== ABSENT) target[key] = value;
}

function visitor(next: () => number): unknown {
  const r = next();
  if (r < 0.05) return pick(next, WRONG_TYPES);
  const out: Record<string, unknown> = {};
  const shape = next();
  if (shape < 0.45) put(out, 'mbox3rdPartyId', field(next, THIRD_PARTY_IDS, 0));
  else if (shape < 0.8) put(out, 'mboxPC', field(next, PC_IDS, 0));
  else if (shape < 0.88) {
    put(out, 'mboxPC', field(next, PC_IDS, 0));
    put(out, 'mbox3rdPartyId', field(next, THIRD_PARTY_IDS, 0));
  }
  if (next() < 0.15) put(out, 'ecid', pick(next, ECIDS));
  if (next() < 0.05) put(out, pick(next, ['tntId', 'thirdPartyId', 'x']) as string, 'v');
  if (next() < 0.03) put(out, 'mboxPC', undefined);
  return out;
}

function data(next: () => number): unknown {
  const r = next();
  if (r < 0.05) return ABSENT;
  if (r < 0.08) return pick(next, [null, 'x', 3, ['a']]);
  const out: Record<string, unknown> = {};
  for (const key of DATA_KEYS) {
    if (next() < 0.5) continue;
    out[key] = next() < 0.8 ? (next() < 0.5 ? `v-${key}` : Math.floor(next() * 1000)) : pick(next, DATA_VALUES);
  }
  return out;
}

function envelope(next: () => number): unknown {
  if (next() < 0.03) return pick(next, [null, 'text', 12, [], [{}]]);
  const out: Record<string, unknown> = {};
  put(out, 'id', field(next, IDS));
  put(out, 'type', field(next, TYPES));
  put(out, 'occurredAt', field(next, TIMESTAMPS));
  put(out, 'visitor', visitor(next));
  put(out, 'data', data(next));
  if (next() < 0.04) put(out, pick(next, ['source', 'occuredAt', 'extra']) as string, 'x');
  return out;
}

/** Inputs only SDK callers can pass (JSON never makes them): the check may leave them to zod, never accept them wrongly. */
function exotic(next: () => number): unknown {
  const base = envelope(next);
  if (typeof base !== 'object' || base === null || Array.isArray(base)) return base;
  const event = base as Record<string, unknown>;
  switch (Math.floor(next() * 5)) {
    case 0:
      return Object.assign(Object.create(null) as object, event);
    case 1: {
      const data = { ...(event.data as object) };
      Object.defineProperty(data, Symbol('s'), { value: 1, enumerable: true });
      return { ...event, data };
    }
    case 2:
      return Object.assign(new (class Envelope {})(), event);
    case 3:
      return { ...event, data: JSON.parse('{"__proto__": {"x": 1}, "storeId": "S1"}') as unknown };
    default:
      return JSON.parse(`{"__proto__": 1, "id": "x"}`) as unknown;
  }
}

describe('envelopeTime: the compiled envelope check agrees with the zod schema', () => {
  it('accepts and refuses exactly what EventSchema does, over 20,000 generated JSON envelopes', () => {
    const next = random(19);
    let valid = 0;
    for (let n = 0; n < 20_000; n += 1) {
      const input = JSON.parse(JSON.stringify(envelope(next)) ?? 'null') as unknown;
      const zod = EventSchema.safeParse(input);
      const time = envelopeTime(input);
      const context = JSON.stringify(input);
      expect(Number.isNaN(time), context).toBe(!zod.success);
      if (zod.success) {
        valid += 1;
        expect(time, context).toBe(zod.data.occurredAt);
      }
    }
    // Both sides are well represented, or the comparison proves little.
    expect(valid).toBeGreaterThan(2_000);
    expect(valid).toBeLessThan(16_000);
  });

  it('never accepts what zod refuses, for objects JSON cannot make (null prototype, classes, symbols, __proto__)', () => {
    const next = random(7);
    for (let n = 0; n < 5_000; n += 1) {
      const input = exotic(next);
      const time = envelopeTime(input);
      if (!Number.isNaN(time))
        expect(EventSchema.safeParse(input)).toMatchObject({ success: true, data: { occurredAt: time } });
    }
  });

  it('also compares non-JSON values: undefined fields and non-finite numbers', () => {
    const base = {
      id: 'e1',
      type: 'kiosk_visit',
      occurredAt: '2026-11-21T10:15:00Z',
      visitor: { mboxPC: 'abc', mbox3rdPartyId: undefined },
      data: { kioskId: 'K1' },
    };
    const cases: unknown[] = [
      base,
      { ...base, data: undefined },
      { ...base, data: { kioskId: 'K1', n: Infinity } },
      { ...base, data: { kioskId: 'K1', n: NaN } },
      { ...base, data: { kioskId: 'K1', n: 10n } },
      { ...base, visitor: { mboxPC: undefined, mbox3rdPartyId: undefined, ecid: 'e' } },
    ];
    for (const input of cases) {
      expect(Number.isNaN(envelopeTime(input))).toBe(!EventSchema.safeParse(input).success);
    }
  });
});

describe('validateEvent, checkEvent and mapCheckedEvent answer as the zod path does', () => {
  it('gives the same result and the same error messages, byte for byte, over 10,000 generated events', () => {
    const next = random(2026);
    for (let n = 0; n < 10_000; n += 1) {
      const input = JSON.parse(JSON.stringify(envelope(next)) ?? 'null') as unknown;
      const maxValueLength = next() < 0.1 ? 8 : undefined;
      const options = { now: NOW, maxValueLength };
      const reference = explainEvent(input, mapping, options);
      const context = JSON.stringify(input);
      expect(validateEvent(input, mapping, options), context).toEqual(reference);
      expect(checkEvent(input, mapping, options), context).toEqual(reference.ok ? undefined : reference.errors);
      // The map worker's path for checked jobs: the same result for every event intake took.
      if (reference.ok) expect(mapCheckedEvent(input, mapping, options), context).toEqual(reference);
    }
  });

  it('maps a job edited by hand (not an envelope at all) with the full validation, not the trusted path', () => {
    const options = { now: NOW };
    for (const input of [null, 'x', { id: 'e1' }, { id: 'e1', type: 'kiosk_visit', occurredAt: 'x', visitor: {} }]) {
      expect(mapCheckedEvent(input, mapping, options)).toEqual(explainEvent(input, mapping, options));
    }
  });
});
