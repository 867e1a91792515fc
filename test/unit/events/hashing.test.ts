import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  MappingFileError,
  hashAttributeValue,
  loadMappingFile,
  privateDataFields,
  resolveMapping,
  unsaltedHashes,
  validateEvent,
  type MappingSpec,
} from '../../../src/events/index.js';
import { createMapProcessor, type MapDeps } from '../../../src/map/processor.js';

// Computed outside Node: `printf %s abc | sha256sum` (FIPS 180-2's test vector), and
// `printf %s 'pepper-0123456789abc' | sha256sum` (salt, then value, nothing between).
const SHA256_ABC = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
const SHA256_PEPPER_ABC = '775c09988cb45455ab96422676b868110035ba3c51f627e7ce3a734a756b279a';
// `printf %s 120 | sha256sum`: a number is hashed as the decimal string it would be sent as.
const SHA256_120 = '2abaca4911e68fa9bfbf3482ee797fd5b9045b841fdff7253557c5fe15de6477';
const SALT = 'pepper-0123456789';

const dir = mkdtempSync(join(tmpdir(), 'target-ingest-hashing-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const NOW = Date.parse('2026-11-21T12:00:00.000Z');

function branchVisit(attributes: Record<string, unknown>, data?: Record<string, unknown>): MappingSpec {
  return {
    mode: 'replace',
    events: {
      branch_visit: {
        data: (data ?? { customerId: { type: 'string', required: true }, points: { type: 'number' } }) as never,
        attributes: attributes as never,
      },
    },
  };
}

function event(data: Record<string, unknown>): unknown {
  return {
    id: 'b-1',
    type: 'branch_visit',
    occurredAt: '2026-11-21T10:00:00Z',
    visitor: { mbox3rdPartyId: 'CRM-1' },
    data,
  };
}

describe('hashAttributeValue', () => {
  it('is SHA-256 in lowercase hex of salt + value (UTF-8), unsalted the value alone', () => {
    expect(hashAttributeValue('abc')).toBe(SHA256_ABC);
    expect(hashAttributeValue('abc', '')).toBe(SHA256_ABC);
    expect(hashAttributeValue('abc', SALT)).toBe(SHA256_PEPPER_ABC);
  });
});

describe('a hashed attribute', () => {
  it('sends the SHA-256 of the field, never the raw value (unsalted)', () => {
    const mapping = resolveMapping(branchVisit({ customerHash: { from: 'data.customerId', hash: 'sha256' } }), {
      env: {},
    });
    const result = validateEvent(event({ customerId: 'abc' }), mapping, { now: NOW });
    expect(result).toMatchObject({ ok: true, event: { attributes: { customerHash: SHA256_ABC } } });
    expect(JSON.stringify(result)).not.toContain('"abc"');
  });

  it('lists the attributes hashed without a salt, for the warning every process logs at start', () => {
    const spec = branchVisit({
      customerHash: { from: 'data.customerId', hash: 'sha256' },
      pointsHash: { from: 'data.points', hash: 'sha256', salt: { env: 'MAPPING_SALT' } },
      visitedAt: { from: 'occurredAt' },
    });
    expect(unsaltedHashes(spec)).toEqual(['events.branch_visit.attributes.customerHash']);
    expect(unsaltedHashes(resolveMapping().spec)).toEqual([]);
  });

  it('prepends the salt read from the environment variable the mapping names', () => {
    const spec = branchVisit({
      customerHash: { from: 'data.customerId', hash: 'sha256', salt: { env: 'MAPPING_SALT' } },
      pointsHash: { from: 'data.points', hash: 'sha256' },
    });
    const mapping = resolveMapping(spec, { env: { MAPPING_SALT: SALT } });
    const result = validateEvent(event({ customerId: 'abc', points: 120 }), mapping, { now: NOW });
    expect(result.ok && result.event.attributes).toEqual({
      customerHash: SHA256_PEPPER_ABC,
      pointsHash: SHA256_120,
    });
    // The salt is in no property of the compiled mapping, nor in the spec.
    expect(JSON.stringify({ spec: mapping.spec, types: [...mapping.types.values()] })).not.toContain(SALT);
  });

  it('reads the salt from process.env by default, as the pipeline processes do', () => {
    process.env.TI_TEST_HASH_SALT = SALT;
    try {
      const mapping = resolveMapping(
        branchVisit({ h: { from: 'data.customerId', hash: 'sha256', salt: { env: 'TI_TEST_HASH_SALT' } } }),
      );
      expect(validateEvent(event({ customerId: 'abc' }), mapping, { now: NOW })).toMatchObject({
        ok: true,
        event: { attributes: { h: SHA256_PEPPER_ABC } },
      });
    } finally {
      delete process.env.TI_TEST_HASH_SALT;
    }
  });

  it('sets nothing for an absent, null or empty optional field', () => {
    const mapping = resolveMapping(
      branchVisit({ h: { from: 'data.tag', hash: 'sha256' }, seen: { const: 'yes' } }, { tag: { type: 'string' } }),
      { env: {} },
    );
    for (const data of [{}, { tag: null }, { tag: '' }]) {
      expect(validateEvent(event(data), mapping, { now: NOW })).toMatchObject({
        ok: true,
        event: { attributes: { seen: 'yes' } },
      });
    }
  });

  it('makes the raw field private: redaction lists it and errors never quote it', () => {
    const spec = branchVisit({ customerHash: { from: 'data.customerId', hash: 'sha256' } });
    const mapping = resolveMapping(spec, { env: {} });
    expect([...privateDataFields(spec)]).toEqual(['customerId']);
    expect([...privateDataFields(mapping)]).toEqual(['customerId']);
    expect(mapping.types.get('branch_visit')?.fields.find((f) => f.name === 'customerId')?.private).toBe(true);
    const result = validateEvent(event({ customerId: 4111111111111111 }), mapping, { now: NOW });
    expect(result.ok).toBe(false);
    expect(JSON.stringify(result)).not.toContain('4111111111111111');
  });

  it('is not length-checked on the raw value (only the 64-character digest goes to Target)', () => {
    const mapping = resolveMapping(branchVisit({ h: { from: 'data.customerId', hash: 'sha256' } }), { env: {} });
    const long = 'x'.repeat(300);
    expect(validateEvent(event({ customerId: long }), mapping, { now: NOW })).toMatchObject({
      ok: true,
      event: { attributes: { h: hashAttributeValue(long) } },
    });
    const tooShort = validateEvent(event({ customerId: 'abc' }), mapping, { now: NOW, maxValueLength: 32 });
    expect(tooShort).toEqual({
      ok: false,
      errors: ['data.customerId: is 64 characters long; Target accepts at most 32 (attribute h)'],
    });
  });

  it('may hash a field declared private', () => {
    const mapping = resolveMapping(
      branchVisit({ h: { from: 'data.ssn', hash: 'sha256' } }, { ssn: { type: 'string', private: true } }),
      { env: {} },
    );
    expect(validateEvent(event({ ssn: 'abc' }), mapping, { now: NOW })).toMatchObject({
      ok: true,
      event: { attributes: { h: SHA256_ABC } },
    });
  });
});

describe('validation only (SDK, import)', () => {
  const spec = branchVisit({
    customerHash: { from: 'data.customerId', hash: 'sha256', salt: { env: 'MAPPING_SALT' } },
    seen: { const: 'yes' },
  });

  it('needs no salt, validates the field and leaves the hashed attribute out', () => {
    const mapping = resolveMapping(spec, { env: {}, validationOnly: true });
    expect(mapping.validationOnly).toBe(true);
    expect(validateEvent(event({ customerId: 'abc' }), mapping, { now: NOW })).toMatchObject({
      ok: true,
      event: { attributes: { seen: 'yes' } },
    });
    expect(validateEvent(event({}), mapping, { now: NOW })).toEqual({
      ok: false,
      errors: ['data.customerId: required for branch_visit'],
    });
  });

  it('is refused by the map worker, which would drop hashed attributes with it', () => {
    const deps = { mapping: resolveMapping(spec, { env: {}, validationOnly: true }) } as unknown as MapDeps;
    expect(() => createMapProcessor(deps)).toThrow(/needs a mapping resolved with its salts/);
  });
});

describe('hash options in a mapping file', () => {
  let count = 0;
  function load(attributes: Record<string, unknown>, env: Record<string, string> = {}): readonly string[] {
    const path = join(dir, `mapping-${++count}.json`);
    writeFileSync(
      path,
      JSON.stringify({
        mode: 'extend',
        events: { branch_visit: { data: { customerId: { type: 'string' } }, attributes } },
      }),
    );
    try {
      resolveMapping(loadMappingFile(path), { env });
      return [];
    } catch (error) {
      if (error instanceof MappingFileError) return error.problems;
      throw error;
    }
  }
  const at = 'events.branch_visit.attributes';

  it('loads from a file and hashes with the salt of the named variable', () => {
    const path = join(dir, 'good.json');
    writeFileSync(
      path,
      JSON.stringify({
        mode: 'extend',
        events: {
          branch_visit: {
            data: { customerId: { type: 'string', required: true } },
            attributes: { customerHash: { from: 'data.customerId', hash: 'sha256', salt: { env: 'MAPPING_SALT' } } },
          },
        },
      }),
    );
    const mapping = resolveMapping(loadMappingFile(path), { env: { MAPPING_SALT: SALT } });
    expect(mapping.knownTypes).toContain('kiosk_visit');
    expect(validateEvent(event({ customerId: 'abc' }), mapping, { now: NOW })).toMatchObject({
      ok: true,
      event: { attributes: { customerHash: SHA256_PEPPER_ABC } },
    });
  });

  it('refuses bad options with the attribute named, and never quotes what is written as a salt', () => {
    expect(load({ a: { from: 'data.customerId', hash: 'md5' } })).toEqual([
      `${at}.a.hash: expected "sha256", got "md5"`,
    ]);
    const literal = load({ a: { from: 'data.customerId', hash: 'sha256', salt: 'my-secret-salt' } });
    expect(literal).toEqual([
      `${at}.a.salt: expected an object such as { "env": "MAPPING_SALT" }, naming the environment variable that holds the salt; the salt itself never goes in the mapping file`,
    ]);
    expect(literal.join('\n')).not.toContain('my-secret-salt');
    const badName = load({ a: { from: 'data.customerId', hash: 'sha256', salt: { env: 'my secret salt' } } });
    expect(badName).toEqual([
      `${at}.a.salt.env: expected the name of an environment variable (A-Z, a-z, 0-9 and "_", not starting with a digit); the salt itself never goes in the mapping file`,
    ]);
    expect(badName.join('\n')).not.toContain('my secret salt');
    expect(load({ a: { from: 'data.customerId', salt: { env: 'S' } } })).toEqual([
      `${at}.a.salt: a salt needs "hash": "sha256" (it is only used to hash the value)`,
    ]);
    expect(load({ a: { const: 'x', hash: 'sha256' } })).toEqual([
      `${at}.a.hash: hashes a data field: needs "from": "data.<field>", not a constant`,
    ]);
    expect(load({ a: { from: 'id', hash: 'sha256' } })).toEqual([
      `${at}.a.hash: hashes a data field: needs "from": "data.<field>", got "id"`,
    ]);
    expect(load({ a: { from: 'data.customerId', hash: 'sha256', salt: { env: 'S', value: 'x' } } })).toEqual([
      `${at}.a.salt.value: unknown field; a salt has only "env", the environment variable that holds it`,
    ]);
    expect(load({ a: { from: 'data.customerId', hash: 'sha256', salty: 1 } })).toEqual([
      `${at}.a.salty: unknown field; an attribute has only "from" or "const", and "hash" and "salt"`,
    ]);
  });

  it('refuses sending the raw value of a hashed field through another attribute', () => {
    expect(load({ a: { from: 'data.customerId', hash: 'sha256' }, b: { from: 'data.customerId' } })).toEqual([
      `${at}.b.from: refers to data.customerId, which attribute a sends hashed; its raw value is private and never sent to Target (add "hash" here too)`,
    ]);
  });

  it('stops when the salt variable is unset or empty, naming the variable only', () => {
    const salted = { a: { from: 'data.customerId', hash: 'sha256', salt: { env: 'MAPPING_SALT' } } };
    const expected = [
      `${at}.a.salt.env: the environment variable MAPPING_SALT is not set (or empty); it holds this attribute's salt`,
    ];
    expect(load(salted)).toEqual(expected);
    expect(load(salted, { MAPPING_SALT: '' })).toEqual(expected);
    expect(load(salted, { MAPPING_SALT: SALT })).toEqual([]);
  });
});
