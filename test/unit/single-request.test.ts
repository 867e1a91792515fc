import { describe, expect, it } from 'vitest';
import { SINGLE_GET_LIMIT_BYTES, SINGLE_POST_LIMIT_BYTES, planSingleUpdate } from '../../src/target/single-request.js';

const visitor = { kind: 'thirdPartyId' as const, id: 'CRM-88412' };

describe('planSingleUpdate', () => {
  it('uses one GET with encoded parameters while it fits in 8 KB', () => {
    const plan = planSingleUpdate('acme', visitor, new Map([['tier', 'gold & silver=1+2%'], ['city', 'Zürich']]));
    expect(plan).toHaveLength(1);
    const [req] = plan;
    expect(req?.method).toBe('GET');
    expect(req?.pathAndQuery).toBe('/m2/acme/profile/update?mbox3rdPartyId=CRM-88412&profile.tier=gold%20%26%20silver%3D1%2B2%25&profile.city=Z%C3%BCrich');
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
      expect(Buffer.byteLength(req.pathAndQuery) + Buffer.byteLength(req.body ?? '')).toBeLessThanOrEqual(SINGLE_POST_LIMIT_BYTES);
      const body = new URLSearchParams(req.body);
      expect(body.get('mbox3rdPartyId')).toBe('CRM-88412');
      for (const [k, v] of body) if (k.startsWith('profile.')) seen.set(k.slice(8), v);
    }
    expect(seen.size).toBe(300);
    expect(seen.get('a299')).toBe('é'.repeat(256));
  });
});
