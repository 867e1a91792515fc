import { describe, expect, it } from 'vitest';
import { CursorError, decodeCursor, encodeCursor, resumeIndex } from '../../../src/dlq/cursor.js';

describe('dead-letter listing cursor', () => {
  it('gives back the position it was made from, for the same filter', () => {
    const filter = { stage: 'map' as const, since: 1000 };
    const position = { index: 1234, after: 'map-7-0-part-2', matched: 17 };
    const cursor = encodeCursor(position, filter);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(cursor, { since: 1000, stage: 'map' })).toEqual(position);
    expect(decodeCursor(encodeCursor({ index: 0, matched: 0 }, {}), {})).toEqual({ index: 0, matched: 0 });
  });

  it('refuses a cursor made for another filter, naming the field', () => {
    const cursor = encodeCursor({ index: 5, matched: 1 }, { stage: 'map' });
    expect(() => decodeCursor(cursor, { stage: 'deliver-bulk' })).toThrow(CursorError);
    expect(() => decodeCursor(cursor, {})).toThrow(/^cursor: made for another filter/);
  });

  it('refuses anything this server did not make', () => {
    const forged = (body: unknown) => Buffer.from(JSON.stringify(body)).toString('base64url');
    for (const bad of [
      '',
      'not a cursor',
      'x'.repeat(2000),
      forged({ v: 1, i: -1, m: 0, f: 'x' }),
      forged({ v: 1, i: 1.5, m: 0, f: 'x' }),
      forged({ v: 2, i: 1, m: 0, f: 'x' }),
      forged([1, 2]),
    ]) {
      expect(() => decodeCursor(bad, {}), bad.slice(0, 20)).toThrow(/^cursor: not a cursor from this server/);
    }
  });

  it('resumes right behind the entry the last page ended on, wherever it moved', () => {
    const ids = ['a', 'b', 'c', 'd', 'e'];
    // ids[0] is at list index 10; the page ended on "c" (was at index 11, two entries came in ahead).
    expect(resumeIndex(ids, 10, 'c', 12)).toBe(13);
    // No anchor, or it is gone: the index stands.
    expect(resumeIndex(ids, 10, undefined, 12)).toBe(12);
    expect(resumeIndex(ids, 10, 'z', 12)).toBe(12);
  });
});
