import { describe, expect, it } from 'vitest';
import { parseBatchBody } from '../../../src/simulator/bulk-format.js';
import { encodeBatch, encodeBatchTwice } from './helpers.js';

// parseBatchBody is pure; these cases pin the format the lead's encoder is tested against.
describe('parseBatchBody', () => {
  it('decodes only the documented form layer by default: a cell keeps its escapes', () => {
    const parsed = parseBatchBody(`batch=${encodeURIComponent('pcId,a,b\nv1,50%25 off,%2C\nv2,Zoë+1 %,')}`);
    expect(parsed).toEqual({
      ok: true,
      kind: 'pcId',
      columns: ['a', 'b'],
      rows: [
        { id: 'v1', values: ['50%25 off', '%2C'] },
        { id: 'v2', values: ['Zoë+1 %', undefined] },
      ],
    });
    expect(parseBatchBody(encodeBatch(['pcId', 'a'], [['v1', '100% "sure" a+b=c&d']]))).toMatchObject({
      ok: true,
      rows: [{ id: 'v1', values: ['100% "sure" a+b=c&d'] }],
    });
  });

  it('reads the two-layer encoding back to the original cells with cell decoding on', () => {
    const parsed = parseBatchBody(
      encodeBatchTwice(
        ['pcId', 'a', 'b'],
        [
          ['v,1', 'x\ny', ''],
          ['v2', '', '%20+'],
        ],
      ),
      'percent',
    );
    expect(parsed).toEqual({
      ok: true,
      kind: 'pcId',
      columns: ['a', 'b'],
      rows: [
        { id: 'v,1', values: ['x\ny', undefined] },
        { id: 'v2', values: [undefined, '%20+'] },
      ],
    });
  });

  it('tolerates CRLF line ends, blank lines and short rows', () => {
    const parsed = parseBatchBody(`batch=${encodeURIComponent('thirdPartyId,a,b\r\nc1,1\r\n\r\nc2,,2\r\n')}`);
    expect(parsed).toEqual({
      ok: true,
      kind: 'thirdPartyId',
      columns: ['a', 'b'],
      rows: [
        { id: 'c1', values: ['1', undefined] },
        { id: 'c2', values: [undefined, '2'] },
      ],
    });
  });

  it('keeps a raw = inside the file and takes only the first batch parameter', () => {
    const parsed = parseBatchBody('batch=pcId%2Ca%0Av1%2Ck=v&batch=pcId%2Cb%0Av2%2Cz');
    expect(parsed.ok && parsed.rows).toEqual([{ id: 'v1', values: ['k=v'] }]);
  });

  it('finds the batch parameter after another parameter', () => {
    const parsed = parseBatchBody('x=1&batch=pcId%2Ca%0Av1%2C2');
    expect(parsed.ok && parsed.rows).toEqual([{ id: 'v1', values: ['2'] }]);
  });

  it.each([
    ['', /no "batch" parameter/],
    ['batch=', /header must start/],
    ['batch=pcId', /no attribute columns/],
    ['batch=pcId%2Ca%2Ca', /column "a" appears twice/],
    ['batch=pcId%2Ca%0Av1%2C%25zz', /data row 1: cell 2 is malformed/],
    ['batch=pcId%2Ca%0A%E9', /valid UTF-8/],
  ])('rejects %j', (raw, message) => {
    const parsed = parseBatchBody(raw, 'percent');
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.message).toMatch(message);
  });

  it('accepts 500,000 rows and rejects 500,001', () => {
    const rows = (n: number): string => `batch=pcId%2Ca${'%0Av%2C1'.repeat(n)}`;
    const max = parseBatchBody(rows(500_000));
    expect(max.ok && max.rows.length).toBe(500_000);
    const over = parseBatchBody(rows(500_001));
    expect(over.ok).toBe(false);
    if (!over.ok) expect(over.message).toMatch(/500001 rows, over the limit of 500000/);
  });
});
