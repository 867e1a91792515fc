import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_MAPPING,
  MappingFileError,
  loadMappingFile,
  privateDataFields,
  resolveMapping,
  validateEvent,
  type MappingSpec,
} from '../../../src/events/index.js';

const dir = mkdtempSync(join(tmpdir(), 'target-ingest-mapping-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
function writeMapping(content: unknown): string {
  const path = join(dir, `mapping-${++fileCount}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

function problemsOf(load: () => unknown): readonly string[] {
  try {
    load();
  } catch (error) {
    if (error instanceof MappingFileError) return error.problems;
    throw error;
  }
  throw new Error('expected a MappingFileError');
}

const NOW = Date.parse('2026-11-21T12:00:00.000Z');
const LOAN_TIER = {
  data: { loanId: { type: 'string', required: true }, tier: { type: 'string' }, ssn: { type: 'string' } },
  attributes: { loanTier: { from: 'data.tier' }, loanLastEventId: { from: 'id' } },
  private: ['ssn'],
};

describe('the default mapping', () => {
  it('has the four types of the design, with cardId and agentId private', () => {
    const compiled = resolveMapping();
    expect(compiled.knownTypes).toEqual(['call_centre_contact', 'kiosk_visit', 'loan_funded', 'loyalty_card_used']);
    expect([...privateDataFields(compiled)].sort()).toEqual(['agentId', 'cardId']);
    expect([...privateDataFields(DEFAULT_MAPPING)].sort()).toEqual(['agentId', 'cardId']);
  });

  it('is frozen, so no caller can change what later events map to', () => {
    expect(() => {
      (DEFAULT_MAPPING.events as Record<string, unknown>).kiosk_visit = undefined;
    }).toThrow(TypeError);
  });
});

describe('loadMappingFile', () => {
  it('extend: adds a type and overrides one, keeping the other defaults', () => {
    const path = writeMapping({
      mode: 'extend',
      events: {
        loan_tier_changed: LOAN_TIER,
        kiosk_visit: {
          data: { kioskId: { type: 'string', required: true } },
          attributes: { kioskId: { from: 'data.kioskId' } },
        },
      },
    });
    const spec = loadMappingFile(path);
    expect(spec.mode).toBe('replace');
    const compiled = resolveMapping(spec);
    expect(compiled.knownTypes).toEqual([
      'call_centre_contact',
      'kiosk_visit',
      'loan_funded',
      'loan_tier_changed',
      'loyalty_card_used',
    ]);
    expect([...privateDataFields(compiled)].sort()).toEqual(['agentId', 'cardId', 'ssn']);

    const kiosk = validateEvent(
      {
        id: 'e1',
        type: 'kiosk_visit',
        occurredAt: '2026-11-21T10:00:00Z',
        visitor: { mboxPC: 'p1' },
        data: { kioskId: 'K1' },
      },
      compiled,
      { now: NOW },
    );
    expect(kiosk.ok && kiosk.event.attributes).toEqual({ kioskId: 'K1' });

    const tier = validateEvent(
      {
        id: 'e2',
        type: 'loan_tier_changed',
        occurredAt: '2026-11-21T10:00:00Z',
        visitor: { mboxPC: 'p1' },
        data: { loanId: 'L', tier: 'gold', ssn: '078-05-1120' },
      },
      compiled,
      { now: NOW },
    );
    expect(tier.ok && tier.event.attributes).toEqual({ loanTier: 'gold', loanLastEventId: 'e2' });
  });

  it("replace: uses only the file's types", () => {
    const compiled = resolveMapping(
      loadMappingFile(writeMapping({ mode: 'replace', events: { loan_tier_changed: LOAN_TIER } })),
    );
    expect(compiled.knownTypes).toEqual(['loan_tier_changed']);
    const result = validateEvent(
      {
        id: 'e1',
        type: 'kiosk_visit',
        occurredAt: '2026-11-21T10:00:00Z',
        visitor: { mboxPC: 'p1' },
        data: { kioskId: 'K' },
      },
      compiled,
      { now: NOW },
    );
    expect(result).toEqual({
      ok: false,
      errors: ['type: unknown event type "kiosk_visit"; known types: loan_tier_changed'],
    });
  });

  it('lists every problem with its JSON path', () => {
    const path = writeMapping({
      mode: 'extend',
      events: {
        kiosk_visit: {
          data: { kioskId: { type: 'string', required: 'yes' }, cardId: { type: 'text', private: true } },
          attributes: {},
        },
        loyalty_card_used: {
          data: { storeId: { type: 'string' }, cardId: { type: 'string', private: true } },
          attributes: {
            kioskLastId: { from: 'data.kioskid' },
            'profile.tier': { const: 'x' },
            lastCard: { from: 'data.cardId' },
            both: { from: 'id', const: 'x' },
            where: { from: 'visitor.mboxPC' },
          },
          private: ['pin'],
        },
        'Bad-Type': { attributes: { a: { const: 'x' } } },
      },
      extra: true,
    });
    expect(problemsOf(() => loadMappingFile(path))).toEqual([
      'events.kiosk_visit.data.kioskId.required: expected true or false, got "yes"',
      'events.kiosk_visit.data.cardId.type: expected "string", "number", "boolean" or "timestamp", got "text"',
      'events.loyalty_card_used.attributes.profile.tier: attribute names must not start with "profile." (it is added when sending)',
      'events.loyalty_card_used.attributes.both: set either "from" or "const", not both',
      'events.loyalty_card_used.attributes.where.from: expected occurredAt, id, type or data.<field>, got "visitor.mboxPC"',
      'events.Bad-Type: must start with a lowercase letter and use only a-z, 0-9 and "_", got "Bad-Type"',
      'extra: unknown field; a mapping file has only "mode" and "events"',
    ]);
  });

  it('checks references once the shape of an event type is right', () => {
    const path = writeMapping({
      mode: 'replace',
      events: {
        loyalty_card_used: {
          data: { storeId: { type: 'string' }, cardId: { type: 'string', private: true } },
          attributes: { kioskLastId: { from: 'data.kioskid' }, lastCard: { from: 'data.cardId' } },
          private: ['pin'],
        },
        empty: { attributes: {} },
      },
    });
    expect(problemsOf(() => loadMappingFile(path))).toEqual([
      'events.loyalty_card_used.private[0]: pin is not declared in data',
      "events.loyalty_card_used.attributes.kioskLastId.from: refers to data.kioskid, which the event's data does not declare (declared: storeId, cardId)",
      'events.loyalty_card_used.attributes.lastCard.from: refers to data.cardId, which is private and never sent to Target',
      'events.empty.attributes: must set at least one attribute',
    ]);
  });

  it('puts the file path and every problem in the message', () => {
    const path = writeMapping({ mode: 'merge', events: [] });
    let message = '';
    try {
      loadMappingFile(path);
    } catch (error) {
      message = error instanceof Error ? error.message : '';
    }
    expect(message).toBe(
      `${path} is not a valid mapping (2 problems):\n` +
        '  - mode: expected "extend" or "replace", got "merge"\n' +
        '  - events: expected an object of event types, got an array',
    );
  });

  it('reports a missing file and invalid JSON', () => {
    expect(problemsOf(() => loadMappingFile(join(dir, 'absent.json')))[0]).toMatch(/^cannot read the file: ENOENT/);
    expect(problemsOf(() => loadMappingFile(writeMapping('{ "mode": "extend", ')))[0]).toMatch(/^not valid JSON: /);
  });

  it('refuses replace with no event types, and a constant longer than 256', () => {
    expect(problemsOf(() => loadMappingFile(writeMapping({ mode: 'replace', events: {} })))).toEqual([
      'events: mode "replace" needs at least one event type',
    ]);
    const long = { mode: 'extend', events: { x: { attributes: { a: { const: 'v'.repeat(257) } } } } };
    expect(problemsOf(() => loadMappingFile(writeMapping(long)))).toEqual([
      'events.x.attributes.a.const: is 257 characters; Target accepts at most 256',
    ]);
  });
});

describe('boolean, timestamp and type sources', () => {
  const compiled = resolveMapping({
    mode: 'replace',
    events: {
      subscription_changed: {
        data: { active: { type: 'boolean', required: true }, renewsAt: { type: 'timestamp' } },
        attributes: {
          subActive: { from: 'data.active' },
          subRenewsAt: { from: 'data.renewsAt' },
          subLastEvent: { from: 'type' },
        },
      },
    },
  });
  const run = (data: Record<string, unknown>): ReturnType<typeof validateEvent> =>
    validateEvent(
      { id: 'e1', type: 'subscription_changed', occurredAt: '2026-11-21T10:00:00Z', visitor: { mboxPC: 'p1' }, data },
      compiled,
      { now: NOW },
    );

  it('writes booleans as true/false and timestamps as UTC', () => {
    expect(run({ active: false, renewsAt: '2027-01-01T01:00:00+01:00' })).toMatchObject({
      ok: true,
      event: {
        attributes: {
          subActive: 'false',
          subRenewsAt: '2027-01-01T00:00:00.000Z',
          subLastEvent: 'subscription_changed',
        },
      },
    });
  });

  it('refuses strings standing in for booleans and unparseable timestamps', () => {
    expect(run({ active: 'true', renewsAt: 'soon' })).toEqual({
      ok: false,
      errors: [
        'data.active: expected true or false, got "true"',
        'data.renewsAt: expected an ISO-8601 timestamp with a timezone, got "soon"',
      ],
    });
  });
});

describe('resolveMapping', () => {
  it('checks a spec built in code with the same rules', () => {
    const spec = { mode: 'replace', events: { x: { attributes: { a: { from: 'data.nope' } } } } } as MappingSpec;
    expect(problemsOf(() => resolveMapping(spec))).toEqual([
      "events.x.attributes.a.from: refers to data.nope, which the event's data does not declare (declared: none)",
    ]);
  });

  it('is idempotent on its own output', () => {
    const compiled = resolveMapping(
      loadMappingFile(writeMapping({ mode: 'extend', events: { loan_tier_changed: LOAN_TIER } })),
    );
    expect(resolveMapping(compiled.spec).knownTypes).toEqual(compiled.knownTypes);
    expect(compiled.attributeNames).toContain('loanTier');
  });
});
