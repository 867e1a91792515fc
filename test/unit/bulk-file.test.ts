import { describe, expect, it } from 'vitest';
import { parseBatchBody } from '../../src/simulator/bulk-format.js';
import { BULK_MAX_BYTES, buildBulkFiles, type BulkRow } from '../../src/target/bulk-file.js';

function row(kind: 'pcId' | 'thirdPartyId', id: string, values: Record<string, string>): BulkRow {
  return { visitor: { kind, id }, values: new Map(Object.entries(values)) };
}

describe('buildBulkFiles', () => {
  it('writes one file per identity kind with the union of attribute columns', () => {
    const files = buildBulkFiles([
      row('thirdPartyId', 'CRM-1', { tier: 'gold' }),
      row('pcId', '111.01_00', { city: 'Basel' }),
      row('thirdPartyId', 'CRM-2', { city: 'Bern', tier: 'silver' }),
    ]);
    expect(files.map((f) => f.kind)).toEqual(['pcId', 'thirdPartyId']);
    const third = parseBatchBody(files[1]?.body ?? '');
    expect(third).toEqual({
      ok: true,
      kind: 'thirdPartyId',
      columns: ['city', 'tier'],
      rows: [
        { id: 'CRM-1', values: [undefined, 'gold'] },
        { id: 'CRM-2', values: ['Bern', 'silver'] },
      ],
    });
  });

  it('keeps the traps of form encoding byte-exact: % & + = , quotes, newlines, Unicode', () => {
    const nasty = ['100%', 'a&b=c', '1+1', 'x,y', '"quoted"', "it's", 'line1\nline2\r\n', 'tab\there', 'Zürich 🚀', '%zz', ';'];
    const files = buildBulkFiles(nasty.map((v, i) => row('thirdPartyId', `id,${i}&=+`, { v })));
    expect(files).toHaveLength(1);
    const body = files[0]?.body ?? '';
    // Nothing in the body can end the batch parameter or be misread by form decoding.
    expect(body.slice('batch='.length)).toMatch(/^[A-Za-z0-9%._~*'()!-]*$/);
    const parsed = parseBatchBody(body);
    if (!parsed.ok) throw new Error(parsed.message);
    expect(parsed.rows.map((r) => r.values[0])).toEqual(nasty);
    expect(parsed.rows.map((r) => r.id)).toEqual(nasty.map((_, i) => `id,${i}&=+`));
  });

  it('splits at the row limit without losing or repeating a row', () => {
    const rows = Array.from({ length: 25 }, (_, i) => row('pcId', `pc-${i}`, { n: String(i) }));
    const files = buildBulkFiles(rows, { maxRows: 10 });
    expect(files.map((f) => f.visitors.length)).toEqual([10, 10, 5]);
    const ids = files.flatMap((f) => {
      const p = parseBatchBody(f.body);
      return p.ok ? p.rows.map((r) => r.id) : [];
    });
    expect(ids).toEqual(rows.map((r) => r.visitor.id));
  });

  it('splits by size so every file stays under the byte limit, rows whole', () => {
    const rows = Array.from({ length: 40 }, (_, i) => row('thirdPartyId', `v${i}`, { big: 'é'.repeat(256) }));
    const maxBytes = 10_000;
    const files = buildBulkFiles(rows, { maxBytes });
    expect(files.length).toBeGreaterThan(1);
    for (const f of files) expect(Buffer.byteLength(f.body)).toBeLessThanOrEqual(maxBytes);
    expect(files.reduce((n, f) => n + f.visitors.length, 0)).toBe(40);
    for (const f of files) {
      const p = parseBatchBody(f.body);
      expect(p.ok && p.rows.every((r) => r.values[0] === 'é'.repeat(256))).toBe(true);
    }
  });

  it('uses the documented 50 MB default', () => {
    expect(BULK_MAX_BYTES).toBe(52_428_800);
  });
});
