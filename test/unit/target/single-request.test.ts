import { describe, expect, it } from 'vitest';
import {
  PROFILE_DATA_LIMIT_BYTES,
  SINGLE_GET_LIMIT_BYTES,
  SINGLE_POST_LIMIT_BYTES,
  planSingleUpdate,
  profileDataBytes,
  singleUpdateProblem,
} from '../../../src/target/single-request.js';

const visitor = { kind: 'thirdPartyId' as const, id: 'CRM-88412' };

/**
 * Attributes whose POST body (`mbox3rdPartyId=…&profile.<name>=<value>…`) is exactly
 * `bytes` long when sent in one request; every value is ASCII and at most 256 characters.
 */
function attrsForPostBody(id: string, bytes: number): Map<string, string> {
  const attrs = new Map<string, string>();
  let length = `mbox3rdPartyId=${id}`.length;
  for (let i = 0; bytes - length > 530; i += 1) {
    const value = 'x'.repeat(250);
    attrs.set(`a${i}`, value);
    length += `&profile.a${i}=${value}`.length;
  }
  // Two last attributes share what is left (each `&profile.p=` costs 11 bytes).
  const rest = bytes - length - 22;
  attrs.set('p', 'p'.repeat(Math.floor(rest / 2)));
  attrs.set('q', 'q'.repeat(rest - Math.floor(rest / 2)));
  return attrs;
}

describe('planSingleUpdate', () => {
  it('uses one GET with encoded parameters while it fits in 8 KB', () => {
    const plan = planSingleUpdate(
      'acme',
      visitor,
      new Map([
        ['tier', 'gold & silver=1+2%'],
        ['city', 'Zürich'],
      ]),
    );
    expect(plan).toHaveLength(1);
    const [req] = plan;
    expect(req?.method).toBe('GET');
    expect(req?.pathAndQuery).toBe(
      '/m2/acme/profile/update?mbox3rdPartyId=CRM-88412&profile.tier=gold%20%26%20silver%3D1%2B2%25&profile.city=Z%C3%BCrich',
    );
    const query = new URLSearchParams(req?.pathAndQuery.split('?')[1]);
    expect([...query.keys()]).toEqual(['mbox3rdPartyId', 'profile.tier', 'profile.city']);
    expect(query.get('profile.tier')).toBe('gold & silver=1+2%');
  });

  it('names mboxPC visitors with mboxPC', () => {
    const [req] = planSingleUpdate('acme', { kind: 'pcId', id: '1368007744041-575948.01_00' }, new Map([['a', '1']]));
    expect(req?.pathAndQuery).toContain('?mboxPC=1368007744041-575948.01_00&profile.a=1');
  });

  it('switches to a form POST above 8 KB', () => {
    const attrs = new Map(Array.from({ length: 40 }, (_, i) => [`attr${i}`, 'x'.repeat(250)] as [string, string]));
    const plan = planSingleUpdate('acme', visitor, attrs);
    expect(plan).toHaveLength(1);
    expect(plan[0]?.method).toBe('POST');
    expect(plan[0]?.pathAndQuery).toBe('/m2/acme/profile/update');
    const body = new URLSearchParams(plan[0]?.body);
    expect(body.get('mbox3rdPartyId')).toBe('CRM-88412');
    expect(body.get('profile.attr39')).toBe('x'.repeat(250));
    expect(Buffer.byteLength(`/m2/acme/profile/update?${plan[0]?.body ?? ''}`)).toBeGreaterThan(SINGLE_GET_LIMIT_BYTES);
  });

  it('splits an update bigger than one POST between attributes, never inside one', () => {
    // 300 values of 256 multi-byte characters: far over 60 KB once encoded.
    const attrs = new Map(Array.from({ length: 300 }, (_, i) => [`a${i}`, 'é'.repeat(256)] as [string, string]));
    const plan = planSingleUpdate('acme', visitor, attrs);
    expect(plan.length).toBeGreaterThan(1);
    const seen = new Map<string, string>();
    for (const req of plan) {
      expect(req.method).toBe('POST');
      // The 60 KB counts the parameters (query string + body); these POSTs have no query.
      expect(req.pathAndQuery).not.toContain('?');
      expect(Buffer.byteLength(req.body ?? '')).toBeLessThanOrEqual(SINGLE_POST_LIMIT_BYTES);
      expect(req.oversize).toBeUndefined();
      const body = new URLSearchParams(req.body);
      expect(body.get('mbox3rdPartyId')).toBe('CRM-88412');
      for (const [k, v] of body) if (k.startsWith('profile.')) seen.set(k.slice(8), v);
    }
    expect(seen.size).toBe(300);
    expect(seen.get('a299')).toBe('é'.repeat(256));
  });

  it('sends one POST with a body of exactly 61,440 bytes and splits one byte past it', () => {
    const atLimit = attrsForPostBody(visitor.id, SINGLE_POST_LIMIT_BYTES);
    const one = planSingleUpdate('acme', visitor, atLimit);
    expect(one).toHaveLength(1);
    expect(one[0]?.method).toBe('POST');
    expect(Buffer.byteLength(one[0]?.body ?? '')).toBe(61_440);
    expect(one[0]?.oversize).toBeUndefined();

    const past = attrsForPostBody(visitor.id, SINGLE_POST_LIMIT_BYTES + 1);
    const two = planSingleUpdate('acme', visitor, past);
    expect(two).toHaveLength(2);
    for (const req of two) expect(Buffer.byteLength(req.body ?? '')).toBeLessThanOrEqual(SINGLE_POST_LIMIT_BYTES);
    expect(two.flatMap((r) => r.attributes).sort()).toEqual([...past.keys()].sort());
    expect(two.map((r) => new URLSearchParams(r.body).get('mbox3rdPartyId'))).toEqual(['CRM-88412', 'CRM-88412']);
  });

  it('marks an attribute that alone cannot fit a 60 KB POST, and the check refuses it', () => {
    const head = `mbox3rdPartyId=${visitor.id}&profile.huge=`;
    const fits = new Map([['huge', 'h'.repeat(SINGLE_POST_LIMIT_BYTES - head.length)]]);
    const fitting = planSingleUpdate('acme', visitor, fits);
    expect(fitting).toHaveLength(1);
    expect(fitting[0]?.body?.length).toBe(SINGLE_POST_LIMIT_BYTES);
    expect(fitting[0]?.oversize).toBeUndefined();
    expect(singleUpdateProblem(fits, fitting)).toBeUndefined();

    const tooBig = new Map([
      ['small', 'ok'],
      ['huge', 'h'.repeat(SINGLE_POST_LIMIT_BYTES - head.length + 1)],
    ]);
    const plan = planSingleUpdate('acme', visitor, tooBig);
    // The plan stays complete (so callers count its calls), the huge attribute alone and marked.
    expect(plan.map((r) => [r.attributes, r.oversize])).toEqual([
      [['small'], undefined],
      [['huge'], true],
    ]);
    expect(singleUpdateProblem(tooBig, plan)).toMatchObject({
      code: 'SINGLE_REQUEST_TOO_LARGE',
      message: expect.stringMatching(/"huge" needs a 61441-byte POST/) as unknown,
    });
  });

  it('refuses an update over 64 KB of profile data and lets one of exactly 64 KB go', () => {
    expect(PROFILE_DATA_LIMIT_BYTES).toBe(65_536);
    // 64 names of 3 bytes with 1,021-byte values (emoji: 4 bytes, one character each) = 65,536.
    const exact = new Map(
      Array.from(
        { length: 64 },
        (_, i) => [`n${String(i).padStart(2, '0')}`, `${'🚀'.repeat(255)}x`] as [string, string],
      ),
    );
    expect(profileDataBytes(exact)).toBe(65_536);
    expect(singleUpdateProblem(exact, planSingleUpdate('acme', visitor, exact))).toBeUndefined();
    const past = new Map([...exact, ['n63', `${'🚀'.repeat(255)}xy`]]);
    expect(profileDataBytes(past)).toBe(65_537);
    expect(singleUpdateProblem(past, planSingleUpdate('acme', visitor, past))).toMatchObject({
      code: 'PROFILE_TOO_LARGE',
      message: expect.stringMatching(/65537 bytes/) as unknown,
    });
  });

  it('counts names and non-empty values in UTF-8 bytes; empty values set nothing', () => {
    expect(
      profileDataBytes(
        new Map([
          ['größe', 'é'],
          ['empty', ''],
        ]),
      ),
    ).toBe(7 + 2);
  });
});
