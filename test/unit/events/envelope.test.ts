import { describe, expect, it } from 'vitest';
import {
  EventSchema,
  parseVisitorKey,
  resolveMapping,
  validateEvent,
  visitorKey,
  type VisitorRef,
} from '../../../src/events/index.js';

const mapping = resolveMapping();
const NOW = Date.parse('2026-11-21T12:00:00.000Z');

function withVisitor(visitor: unknown): unknown {
  return { id: 'e-1', type: 'kiosk_visit', occurredAt: '2026-11-21T10:15:00Z', visitor, data: { kioskId: 'K' } };
}

function errorsOf(input: unknown): string[] {
  const result = validateEvent(input, mapping, { now: NOW });
  return result.ok ? [] : result.errors;
}

describe('visitor identity rules', () => {
  it('accepts mboxPC alone and mbox3rdPartyId alone', () => {
    expect(errorsOf(withVisitor({ mboxPC: '1368007744041-575948.01_00' }))).toEqual([]);
    expect(errorsOf(withVisitor({ mbox3rdPartyId: 'CRM-88412' }))).toEqual([]);
  });

  it('refuses an ECID-only visitor, saying Target does not support ECID', () => {
    expect(errorsOf(withVisitor({ ecid: '08156393563213093424812290329624315009' }))).toEqual([
      'visitor: ECID is not supported by the Target profile update APIs; send mboxPC or mbox3rdPartyId',
    ]);
  });

  it('accepts an ECID next to a usable id, and ignores it', () => {
    const result = validateEvent(withVisitor({ ecid: 'E1', mbox3rdPartyId: 'CRM-1' }), mapping, { now: NOW });
    expect(result.ok && result.event.visitor).toEqual({ kind: 'thirdPartyId', id: 'CRM-1' });
  });

  it('refuses both ids at once, and neither', () => {
    expect(errorsOf(withVisitor({ mboxPC: 'abc', mbox3rdPartyId: 'CRM-1' }))).toEqual([
      'visitor: send exactly one of mboxPC or mbox3rdPartyId, not both',
    ]);
    expect(errorsOf(withVisitor({}))).toEqual(['visitor: needs mboxPC or mbox3rdPartyId']);
    expect(errorsOf(withVisitor(undefined))).toEqual([
      'visitor: required; expected an object with mboxPC or mbox3rdPartyId',
    ]);
  });

  it('refuses "+" and "/" in mbox3rdPartyId', () => {
    for (const id of ['CRM+1', 'CRM/1']) {
      expect(errorsOf(withVisitor({ mbox3rdPartyId: id }))).toEqual([
        'visitor.mbox3rdPartyId: must not contain "+" or "/" (Target rejects them)',
      ]);
    }
  });

  it('accepts a 256-character mbox3rdPartyId and refuses 257', () => {
    expect(errorsOf(withVisitor({ mbox3rdPartyId: 'x'.repeat(256) }))).toEqual([]);
    expect(errorsOf(withVisitor({ mbox3rdPartyId: 'x'.repeat(257) }))).toEqual([
      'visitor.mbox3rdPartyId: must be at most 256 characters, got 257',
    ]);
  });

  it('refuses control characters in mbox3rdPartyId', () => {
    expect(errorsOf(withVisitor({ mbox3rdPartyId: 'CRM\n1' }))).toEqual([
      'visitor.mbox3rdPartyId: must contain only printable characters (no control or invisible characters)',
    ]);
  });

  it('limits mboxPC to the characters of a tntId', () => {
    const expected = (got: string): string =>
      `visitor.mboxPC: must be 1 to 128 characters from A-Z, a-z, 0-9, ".", "_" and "-" (a Target tntId such as 1368007744041-575948.01_00), got ${got}`;
    expect(errorsOf(withVisitor({ mboxPC: 'a&b=c' }))).toEqual([expected('"a&b=c"')]);
    expect(errorsOf(withVisitor({ mboxPC: 'a b' }))).toEqual([expected('"a b"')]);
    expect(errorsOf(withVisitor({ mboxPC: '' }))).toEqual([expected('""')]);
    expect(errorsOf(withVisitor({ mboxPC: 'x'.repeat(129) }))).toEqual([expected(`"${'x'.repeat(40)}…"`)]);
  });

  it('refuses unknown visitor keys, hinting at the intended one', () => {
    expect(errorsOf(withVisitor({ thirdPartyId: 'CRM-1' }))).toEqual([
      'visitor.thirdPartyId: unknown field; did you mean mbox3rdPartyId?',
      'visitor: needs mboxPC or mbox3rdPartyId',
    ]);
    expect(errorsOf(withVisitor({ mboxPC: 'abc', id: 'x' }))).toEqual([
      'visitor.id: unknown field; visitor takes mboxPC or mbox3rdPartyId',
    ]);
  });

  it('refuses a non-string id', () => {
    expect(errorsOf(withVisitor({ mboxPC: 12345 }))).toEqual(['visitor.mboxPC: expected a string, got 12345']);
  });
});

describe('envelope fields', () => {
  const base = {
    id: 'e-1',
    type: 'kiosk_visit',
    occurredAt: '2026-11-21T10:15:00Z',
    visitor: { mboxPC: 'abc' },
    data: { kioskId: 'K' },
  };

  it('refuses "source" in the body, and other unknown keys', () => {
    expect(errorsOf({ ...base, source: 'pos-eu' })).toEqual([
      'source: not accepted in the event body; the source is taken from the API key',
    ]);
    expect(errorsOf({ ...base, occuredAt: 'x' })).toEqual([
      'occuredAt: unknown field; an event has only id, type, occurredAt, visitor and data',
    ]);
  });

  it('checks the event id', () => {
    expect(errorsOf({ ...base, id: 'x'.repeat(129) })).toEqual(['id: must be at most 128 characters, got 129']);
    expect(errorsOf({ ...base, id: 'a\u0000b' })).toEqual([
      'id: must contain only printable characters (no control or invisible characters)',
    ]);
    expect(errorsOf({ ...base, id: 'a\u200bb' })).toHaveLength(1);
    expect(errorsOf({ ...base, id: undefined })).toEqual(['id: required; expected a string']);
    expect(errorsOf({ ...base, id: 'x'.repeat(128) })).toEqual([]);
  });

  it('checks the shape of the type name', () => {
    expect(errorsOf({ ...base, type: 'Kiosk-Visit' })).toEqual([
      'type: must start with a lowercase letter and use only a-z, 0-9 and "_", got "Kiosk-Visit"',
    ]);
    expect(errorsOf({ ...base, type: 'k'.repeat(65) })).toEqual(['type: must be at most 64 characters, got 65']);
  });

  it('defaults data to {} (a type with no required fields would then pass)', () => {
    const parsed = EventSchema.parse({ ...base, data: undefined });
    expect(parsed.data).toEqual({});
    expect(parsed.occurredAt).toBe(Date.parse('2026-11-21T10:15:00Z'));
  });

  it('refuses nested data values but does not echo them', () => {
    expect(errorsOf({ ...base, data: { kioskId: 'K', items: [{ sku: 'A' }] } })).toEqual([
      'data.items: expected a string, number, boolean or null, got an array',
    ]);
  });
});

describe('visitorKey / parseVisitorKey', () => {
  const refs: VisitorRef[] = [
    { kind: 'pcId', id: '1368007744041-575948.01_00' },
    { kind: 'thirdPartyId', id: 'CRM:88:412' },
  ];

  it('prefixes the kind, so a tntId and an equal CRM id stay apart', () => {
    expect(visitorKey({ kind: 'pcId', id: 'A1' })).toBe('pc:A1');
    expect(visitorKey({ kind: 'thirdPartyId', id: 'A1' })).toBe('3p:A1');
  });

  it('round-trips', () => {
    for (const ref of refs) expect(parseVisitorKey(visitorKey(ref))).toEqual(ref);
  });

  it('throws on a key it did not produce', () => {
    expect(() => parseVisitorKey('xx:1')).toThrow('not a visitor key (expected "pc:<id>" or "3p:<id>"): "xx:1"');
    expect(() => parseVisitorKey('pc:')).toThrow('not a visitor key');
  });
});
