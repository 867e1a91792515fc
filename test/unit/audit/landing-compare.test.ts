import { describe, expect, it } from 'vitest';
import { compareLanding, countLanding, sampleShare } from '../../../src/audit/landing-compare.js';

const SENT_AT = Date.parse('2026-11-21T10:00:00.000Z');
const S1 = '001795255200000|e1';
const S2 = '001795255260000|e2';

const delivered = (entries: Record<string, [string, string]>) =>
  new Map(Object.entries(entries).map(([name, [value, stamp]]) => [name, { value, stamp }]));

describe('compareLanding', () => {
  it('match: Target holds the delivered value', () => {
    expect(
      compareLanding({
        sampled: { tier: S1 },
        delivered: delivered({ tier: ['gold', S1] }),
        profile: { tier: { value: 'gold', modifiedAt: '2026-11-21T09:00:00.000Z' } },
        sentAt: SENT_AT,
      }),
    ).toEqual([{ name: 'tier', result: 'match' }]);
  });

  it('match: Target holds a newer value, written after the delivery left', () => {
    expect(
      compareLanding({
        sampled: { tier: S1 },
        delivered: delivered({ tier: ['gold', S1] }),
        profile: { tier: { value: 'platinum', modifiedAt: '2026-11-21T10:05:00.000Z' } },
        sentAt: SENT_AT,
      }),
    ).toEqual([{ name: 'tier', result: 'match' }]);
  });

  it('match: a later delivery replaced the sampled value, and Target holds either', () => {
    const input = { sampled: { tier: S1 }, delivered: delivered({ tier: ['platinum', S2] }), sentAt: SENT_AT };
    const newer = { tier: { value: 'platinum', modifiedAt: '2026-11-21T10:02:00.000Z' } };
    const sampledOne = { tier: { value: 'gold', modifiedAt: '2026-11-21T10:01:00.000Z' } };
    expect(compareLanding({ ...input, profile: newer })).toEqual([{ name: 'tier', result: 'match' }]);
    expect(compareLanding({ ...input, profile: sampledOne })).toEqual([{ name: 'tier', result: 'match' }]);
  });

  it('missing: the attribute is absent, or Target has no profile at all', () => {
    const input = {
      sampled: { tier: S1, store: S1 },
      delivered: delivered({ tier: ['gold', S1], store: ['S12', S1] }),
      sentAt: SENT_AT,
    };
    expect(compareLanding({ ...input, profile: { tier: { value: 'gold' } } })).toEqual([
      { name: 'tier', result: 'match' },
      { name: 'store', result: 'missing' },
    ]);
    expect(compareLanding({ ...input, profile: undefined })).toEqual([
      { name: 'tier', result: 'missing' },
      { name: 'store', result: 'missing' },
    ]);
  });

  it('different: another value, written before the delivery left or at a time Target does not say', () => {
    const input = { sampled: { tier: S1 }, delivered: delivered({ tier: ['gold', S1] }), sentAt: SENT_AT };
    const older = { tier: { value: 'bronze', modifiedAt: '2026-11-21T09:59:59.999Z' } };
    const undated = { tier: { value: 'bronze' } };
    const unreadable = { tier: { value: 'bronze', modifiedAt: 'yesterday-ish' } };
    for (const profile of [older, undated, unreadable])
      expect(compareLanding({ ...input, profile })).toEqual([{ name: 'tier', result: 'different' }]);
  });

  it('strict (after a lost answer): a value written after the delivery left is different, since that call wrote it', () => {
    const input = {
      sampled: { tier: S1 },
      delivered: delivered({ tier: ['gold', S1] }),
      profile: { tier: { value: 'silver', modifiedAt: '2026-11-21T10:05:00.000Z' } },
      sentAt: SENT_AT,
    };
    expect(compareLanding(input)).toEqual([{ name: 'tier', result: 'match' }]);
    expect(compareLanding({ ...input, strict: true })).toEqual([{ name: 'tier', result: 'different' }]);
    expect(
      compareLanding({
        ...input,
        strict: true,
        profile: { tier: { value: 'gold', modifiedAt: '2026-11-21T10:05:00.000Z' } },
      }),
    ).toEqual([{ name: 'tier', result: 'match' }]);
  });

  it('leaves out attributes the store no longer knows as delivered (forgotten, past retention)', () => {
    expect(
      compareLanding({
        sampled: { tier: S1, store: S1 },
        delivered: delivered({ tier: ['gold', S1] }),
        profile: undefined,
        sentAt: SENT_AT,
      }),
    ).toEqual([{ name: 'tier', result: 'missing' }]);
  });

  it('counts by result, every result present', () => {
    expect(countLanding([])).toEqual({ match: 0, missing: 0, different: 0 });
    expect(
      countLanding([
        { name: 'a', result: 'match' },
        { name: 'b', result: 'missing' },
        { name: 'c', result: 'missing' },
      ]),
    ).toEqual({ match: 1, missing: 2, different: 0 });
  });
});

describe('sampleShare', () => {
  it('takes none at 0 without drawing, all at 1, and each item with the share in between', () => {
    let draws = 0;
    const random = (): number => {
      draws += 1;
      return draws % 2 === 0 ? 0.2 : 0.7;
    };
    expect(sampleShare([1, 2, 3], 0, random)).toEqual([]);
    expect(draws).toBe(0);
    expect(sampleShare([1, 2, 3], 1, random)).toEqual([1, 2, 3]);
    expect(sampleShare([1, 2, 3, 4], 0.5, random)).toEqual([2, 4]);
  });
});
