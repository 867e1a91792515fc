import { describe, expect, it } from 'vitest';
import { formatNumber, formatTimestamp, parseTimestamp } from '../../../src/events/index.js';

describe('parseTimestamp', () => {
  const utc = (text: string): string => formatTimestamp(parseTimestamp(text));

  it('accepts Z and offsets in the forms tills send, and gives UTC', () => {
    expect(utc('2026-11-21T10:15:00.000Z')).toBe('2026-11-21T10:15:00.000Z');
    expect(utc('2026-11-21T11:15:00+01:00')).toBe('2026-11-21T10:15:00.000Z');
    expect(utc('2026-11-21T11:15:00+0100')).toBe('2026-11-21T10:15:00.000Z');
    expect(utc('2026-11-21T15:45:00+05:30')).toBe('2026-11-21T10:15:00.000Z');
    expect(utc('2026-11-21T23:30:00-02')).toBe('2026-11-22T01:30:00.000Z');
    expect(utc('2026-11-21t10:15:00z')).toBe('2026-11-21T10:15:00.000Z');
  });

  it('truncates fractions below a millisecond rather than rounding into the next second', () => {
    expect(utc('2026-11-21T10:15:59.9999999Z')).toBe('2026-11-21T10:15:59.999Z');
    expect(utc('2026-11-21T10:15:00.1Z')).toBe('2026-11-21T10:15:00.100Z');
  });

  it('accepts 29 February in a leap year only', () => {
    expect(utc('2028-02-29T00:00:00Z')).toBe('2028-02-29T00:00:00.000Z');
    expect(parseTimestamp('2026-02-29T00:00:00Z')).toBeNaN();
    expect(parseTimestamp('2100-02-29T00:00:00Z')).toBeNaN();
    expect(utc('2000-02-29T00:00:00Z')).toBe('2000-02-29T00:00:00.000Z');
  });

  it('refuses timestamps without a zone, impossible dates and other formats', () => {
    for (const text of [
      '2026-11-21T10:15:00',
      '2026-11-21',
      '21/11/2026',
      '2026-13-01T00:00:00Z',
      '2026-04-31T00:00:00Z',
      '2026-11-21T24:00:00Z',
      '2026-11-21T10:60:00Z',
      '2026-11-21T10:15:00+24:00',
      'Sat, 21 Nov 2026 10:15:00 GMT',
      '0099-01-01T00:00:00Z',
      '',
    ]) {
      expect(parseTimestamp(text), text).toBeNaN();
    }
  });

  it('reads exactly the grammar of its regular expression, over 50,000 mutated timestamps', () => {
    // The grammar as a regular expression, with the same range checks: the reference.
    const GRAMMAR =
      /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)$/;
    const reference = (text: string): number => {
      const m = GRAMMAR.exec(text);
      if (m === null) return NaN;
      const [, y, mo, d, h, mi, sec, frac, zulu, sign, oh, om] = m;
      const [year, month, day, hour, minute] = [y, mo, d, h, mi].map(Number) as [
        number,
        number,
        number,
        number,
        number,
      ];
      const second = sec === undefined ? 0 : Number(sec);
      const ms = frac === undefined ? 0 : Number(frac.slice(0, 3).padEnd(3, '0'));
      const days =
        new Date(Date.UTC(2001, month, 0)).getUTCDate() +
        (month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 1 : 0);
      if (year < 1000 || month < 1 || month > 12 || day < 1 || day > days || hour > 23 || minute > 59 || second > 59)
        return NaN;
      const offH = zulu === undefined ? Number(oh) : 0;
      const offM = zulu === undefined && om !== undefined ? Number(om) : 0;
      if (offH > 23 || offM > 59) return NaN;
      const utc =
        Date.UTC(year, month - 1, day, hour, minute, second, ms) -
        (sign === '-' ? -1 : 1) * (offH * 60 + offM) * 60_000;
      return utc >= Date.UTC(1000, 0, 1) && utc < Date.UTC(10000, 0, 1) ? utc : NaN;
    };
    const seeds = [
      '2026-11-21T10:15:00.000Z',
      '2026-11-21t10:15z',
      '2026-11-21T10:15:59,123456789+05:30',
      '2028-02-29T23:59:59-0130',
      '9999-12-31T23:59:59.999Z',
      '1000-01-01T00:00:00+01',
    ];
    const alphabet = '0123456789-:.,+TtZz 9٣';
    let state = 1;
    const next = (n: number): number => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return (state >>> 8) % n;
    };
    let valid = 0;
    for (let n = 0; n < 50_000; n += 1) {
      let text = seeds[next(seeds.length)] ?? '';
      for (let edits = next(3); edits > 0; edits -= 1) {
        const at = next(text.length + 1);
        const char = alphabet[next(alphabet.length)] ?? '';
        const kind = next(3);
        text = text.slice(0, at) + (kind === 2 ? '' : char) + text.slice(kind === 0 ? at : at + 1);
      }
      const expected = reference(text);
      if (!Number.isNaN(expected)) valid += 1;
      expect(parseTimestamp(text), JSON.stringify(text)).toBe(expected);
    }
    expect(valid).toBeGreaterThan(5_000);
  });
});

describe('formatNumber', () => {
  it('never writes an exponent', () => {
    expect(formatNumber(1e21)).toBe('1000000000000000000000');
    expect(formatNumber(1.2345e25)).toBe('12345000000000000000000000');
    expect(formatNumber(-1e21)).toBe('-1000000000000000000000');
    expect(formatNumber(1e-7)).toBe('0.0000001');
    expect(formatNumber(-1.5e-7)).toBe('-0.00000015');
  });

  it('keeps ordinary numbers as JavaScript prints them', () => {
    expect(formatNumber(120)).toBe('120');
    expect(formatNumber(12.5)).toBe('12.5');
    expect(formatNumber(0.000001)).toBe('0.000001');
  });

  it('writes -0 as 0 and refuses NaN and the infinities', () => {
    expect(formatNumber(-0)).toBe('0');
    expect(formatNumber(Number.NaN)).toBeUndefined();
    expect(formatNumber(Number.POSITIVE_INFINITY)).toBeUndefined();
    expect(formatNumber(Number.NEGATIVE_INFINITY)).toBeUndefined();
  });

  it('round-trips: the decimal string parses back to the same number', () => {
    for (const n of [1e21, 123456789e15, 5e-324, 1.7976931348623157e308, 0.1 + 0.2]) {
      expect(Number(formatNumber(n))).toBe(n);
    }
  });
});
