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
