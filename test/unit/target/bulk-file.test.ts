import { describe, expect, it } from 'vitest';
import { parseBatchBody } from '../../../src/simulator/bulk-format.js';
import {
  BULK_MAX_BYTES,
  BULK_MAX_ROWS,
  BulkFileBuilder,
  formEncodedLength,
  type BulkRow,
} from '../../../src/target/bulk-file.js';
import { buildBulkFiles } from '../../harness/bulk-files.js';

// Files are read back here as a Target that percent-decodes cells would read them: the
// builder's cell escapes keep a file's shape whatever it is fed (P8). Which reading Target
// applies is not documented, so the pipeline never puts a value holding %, comma, quote, CR
// or LF in a bulk file at all (src/deliver/bulk-rows.ts; test/e2e/encoding-routes.test.ts).
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
    const third = parseBatchBody(files[1]?.body ?? '', 'percent');
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
    const nasty = [
      '100%',
      'a&b=c',
      '1+1',
      'x,y',
      '"quoted"',
      "it's",
      'line1\nline2\r\n',
      'tab\there',
      'Zürich 🚀',
      '%zz',
      ';',
    ];
    const files = buildBulkFiles(nasty.map((v, i) => row('thirdPartyId', `id,${i}&=+`, { v })));
    expect(files).toHaveLength(1);
    const body = files[0]?.body ?? '';
    // Nothing in the body can end the batch parameter or be misread by form decoding.
    expect(body.slice('batch='.length)).toMatch(/^[A-Za-z0-9%._~*'()!-]*$/);
    const parsed = parseBatchBody(body, 'percent');
    if (!parsed.ok) throw new Error(parsed.message);
    expect(parsed.rows.map((r) => r.values[0])).toEqual(nasty);
    expect(parsed.rows.map((r) => r.id)).toEqual(nasty.map((_, i) => `id,${i}&=+`));
  });

  it('splits at the row limit without losing or repeating a row', () => {
    const rows = Array.from({ length: 25 }, (_, i) => row('pcId', `pc-${i}`, { n: String(i) }));
    const files = buildBulkFiles(rows, { maxRows: 10 });
    expect(files.map((f) => f.visitors.length)).toEqual([10, 10, 5]);
    const ids = files.flatMap((f) => {
      const p = parseBatchBody(f.body, 'percent');
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
      const p = parseBatchBody(f.body, 'percent');
      expect(p.ok && p.rows.every((r) => r.values[0] === 'é'.repeat(256))).toBe(true);
    }
  });

  it('uses the documented 50 MB default', () => {
    expect(BULK_MAX_BYTES).toBe(50_000_000);
  });

  it('keeps exactly maxRows rows in one file and splits maxRows + 1 into two', () => {
    const rows = (n: number): BulkRow[] =>
      Array.from({ length: n }, (_, i) => row('pcId', `pc-${i}`, { n: String(i) }));
    expect(buildBulkFiles(rows(10), { maxRows: 10 }).map((f) => f.visitors.length)).toEqual([10]);
    expect(buildBulkFiles(rows(11), { maxRows: 10 }).map((f) => f.visitors.length)).toEqual([10, 1]);
  });

  it('holds the documented 500,000 rows in one file the simulator reads, and splits 500,001', () => {
    expect(BULK_MAX_ROWS).toBe(500_000);
    const rows = Array.from({ length: 500_001 }, (_, i) => row('pcId', `p${i}`, { n: '1' }));
    const [full] = buildBulkFiles(rows.slice(0, 500_000));
    const parsed = parseBatchBody(full?.body ?? '', 'percent');
    expect(parsed.ok && parsed.rows.length).toBe(500_000);
    expect(buildBulkFiles(rows).map((f) => f.visitors.length)).toEqual([500_000, 1]);
  });

  it('counts bytes exactly: a file of exactly maxBytes stays whole, one byte less splits it', () => {
    // Awkward values: every byte of the accounting (cell escapes, form escapes, UTF-8) counts.
    const values = ['100%', 'a&b=c+d', 'x,y\n', '"q"\r\n', 'Zürich 🚀 東京', '', ' ', '%zz', "it's (ok)!*~"];
    const rows = values.map((v, i) => row('thirdPartyId', `id ${i},%`, v === '' ? {} : { v, w: `${v}${i}` }));
    const [whole] = buildBulkFiles(rows);
    const exact = Buffer.byteLength(whole?.body ?? '');
    const atLimit = buildBulkFiles(rows, { maxBytes: exact });
    expect(atLimit).toHaveLength(1);
    expect(Buffer.byteLength(atLimit[0]?.body ?? '')).toBe(exact);
    const past = buildBulkFiles(rows, { maxBytes: exact - 1 });
    expect(past.map((f) => f.visitors.length)).toEqual([values.length - 1, 1]);
    for (const f of past) expect(Buffer.byteLength(f.body)).toBeLessThanOrEqual(exact - 1);
    // The file that was split still reads back to the same rows.
    const ids = past.flatMap((f) => {
      const p = parseBatchBody(f.body, 'percent');
      return p.ok ? p.rows.map((r) => r.id) : [];
    });
    expect(ids).toEqual(rows.map((r) => r.visitor.id));
  });

  it('fills a file up to 50 MB minus one byte by default and splits one byte past it', () => {
    // Rows `<id>,<value>` of plain ASCII: each costs %0A + id + %2C + value bytes.
    const header = 'batch=pcId%2Cv'.length;
    const rowBytes = (id: string, value: number): number => 3 + id.length + 3 + value;
    const rows = (target: number): BulkRow[] => {
      const out: BulkRow[] = [];
      let bytes = header;
      for (let i = 0; target - bytes > 200_000; i += 1) {
        out.push(row('pcId', `r${i}`, { v: 'x'.repeat(100_000) }));
        bytes += rowBytes(`r${i}`, 100_000);
      }
      out.push(row('pcId', 'last', { v: 'y'.repeat(target - bytes - rowBytes('last', 0)) }));
      return out;
    };
    const atLimit = buildBulkFiles(rows(BULK_MAX_BYTES - 1));
    expect(atLimit).toHaveLength(1);
    expect(Buffer.byteLength(atLimit[0]?.body ?? '')).toBe(BULK_MAX_BYTES - 1);
    const past = buildBulkFiles(rows(BULK_MAX_BYTES));
    expect(past).toHaveLength(2);
    for (const f of past) expect(Buffer.byteLength(f.body)).toBeLessThan(BULK_MAX_BYTES);
  });

  it('escapes in cells only % , " CR LF, so ordinary values read the same whether Target decodes cells or not', () => {
    const ordinary = [
      '2026-11-21T10:00:00Z',
      'Zoë 東京 🚀',
      'a+b=c&d',
      "it's; fine (really)!",
      '#1 ?x /y \\z',
      'tab\there',
    ];
    const [file] = buildBulkFiles(ordinary.map((v, i) => row('thirdPartyId', `CRM ${i}:+`, { 'name: with space': v })));
    const decodedOnce = parseBatchBody(file?.body ?? '', 'none');
    if (!decodedOnce.ok) throw new Error(decodedOnce.message);
    expect(decodedOnce.columns).toEqual(['name: with space']);
    expect(decodedOnce.rows.map((r) => [r.id, r.values[0]])).toEqual(ordinary.map((v, i) => [`CRM ${i}:+`, v]));

    const special = ['100%', 'x,y', '"q"', 'a\r\nb'];
    const [other] = buildBulkFiles(special.map((v, i) => row('pcId', `p${i}`, { v })));
    const twice = parseBatchBody(other?.body ?? '', 'percent');
    const once = parseBatchBody(other?.body ?? '', 'none');
    expect(twice.ok && twice.rows.map((r) => r.values[0])).toEqual(special);
    // Read without cell decoding, these keep their escapes: the case the written choice names.
    expect(once.ok && once.rows.map((r) => r.values[0])).toEqual(['100%25', 'x%2Cy', '%22q%22', 'a%0D%0Ab']);
  });

  it('computes the form-encoded length exactly, for every kind of character', () => {
    let seed = 7;
    const rand = (): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const pick = (): string => {
      const r = rand();
      if (r < 0.4) return String.fromCharCode(Math.floor(rand() * 128));
      if (r < 0.6) return String.fromCodePoint(0x80 + Math.floor(rand() * 0x780));
      if (r < 0.8) return String.fromCodePoint(0x800 + Math.floor(rand() * 0xd000));
      return String.fromCodePoint(0x10000 + Math.floor(rand() * 0xfffff));
    };
    for (let i = 0; i < 2000; i += 1) {
      const text = Array.from({ length: Math.floor(rand() * 40) }, pick).join('');
      expect(formEncodedLength(text), JSON.stringify(text)).toBe(encodeURIComponent(text).length);
    }
    for (let c = 0; c < 128; c += 1)
      expect(formEncodedLength(String.fromCharCode(c))).toBe(encodeURIComponent(String.fromCharCode(c)).length);
  });
});

describe('BulkFileBuilder', () => {
  const rows = [
    row('thirdPartyId', 'CRM-1', { tier: 'gold', 'a,b': 'x' }),
    row('pcId', '111.01_00', { city: 'Basel' }),
    row('thirdPartyId', 'CRM-2', { city: 'Bern', tier: 'silver' }),
    row('thirdPartyId', 'CRM-3', { note: '100% & more' }),
    row('pcId', '222.02_00', { tier: 'bronze' }),
  ];

  it('builds from rows added one at a time the same files as from all rows at once, split the same', () => {
    const builder = new BulkFileBuilder();
    for (const r of rows) builder.add(r.visitor, r.values);
    expect(builder.rows).toBe(5);
    expect(builder.build({ maxRows: 2 })).toEqual(buildBulkFiles(rows, { maxRows: 2 }));
    const parsed = buildBulkFiles(rows).map((f) => parseBatchBody(f.body, 'percent'));
    expect(parsed[1]).toEqual({
      ok: true,
      kind: 'thirdPartyId',
      columns: ['a,b', 'city', 'note', 'tier'],
      rows: [
        { id: 'CRM-1', values: ['x', undefined, undefined, 'gold'] },
        { id: 'CRM-2', values: [undefined, 'Bern', undefined, 'silver'] },
        { id: 'CRM-3', values: [undefined, undefined, '100% & more', undefined] },
      ],
    });
  });

  it('splits at maxBytes like buildBulkFiles, keeps empty-string values as empty cells, and shares a name across kinds', () => {
    const many = Array.from({ length: 40 }, (_, i) =>
      row(i % 3 === 0 ? 'pcId' : 'thirdPartyId', `ID-${i}`, { tier: i % 5 === 0 ? '' : `tier-${i}-${'x'.repeat(i)}` }),
    );
    const builder = new BulkFileBuilder();
    for (const r of many) builder.add(r.visitor, r.values);
    const files = builder.build({ maxBytes: 400 });
    expect(files.length).toBeGreaterThan(2);
    expect(files).toEqual(buildBulkFiles(many, { maxBytes: 400 }));
    for (const f of files) expect(f.body.length).toBeLessThanOrEqual(400);
    expect(files.every((f) => f.columns.join() === 'tier')).toBe(true);
  });

  it('gives each file the oldest event and intake times of its own rows', () => {
    const builder = new BulkFileBuilder();
    builder.add({ kind: 'thirdPartyId', id: 'CRM-1' }, [['tier', 'a']], { oldestEventMs: 500, oldestIntakeMs: 900 });
    builder.add({ kind: 'thirdPartyId', id: 'CRM-2' }, [['tier', 'b']], { oldestEventMs: 300 });
    builder.add({ kind: 'thirdPartyId', id: 'CRM-3' }, [['tier', 'c']], { oldestEventMs: 100, oldestIntakeMs: 200 });
    builder.add({ kind: 'pcId', id: '1.1_0' }, [['tier', 'd']]);
    const files = builder.build({ maxRows: 2 });
    expect(files.map((f) => [f.kind, f.visitors.length, f.oldest.oldestEventMs, f.oldest.oldestIntakeMs])).toEqual([
      ['pcId', 1, undefined, undefined],
      ['thirdPartyId', 2, 300, 900],
      ['thirdPartyId', 1, 100, 200],
    ]);
  });

  it('hands its rows over: empty after build', () => {
    const builder = new BulkFileBuilder();
    builder.add({ kind: 'pcId', id: '1.1_0' }, [['tier', 'gold']]);
    expect(builder.build()).toHaveLength(1);
    expect(builder.rows).toBe(0);
    expect(builder.build()).toEqual([]);
  });

  it('writes a row with no values as its id alone', () => {
    const [file] = buildBulkFiles([row('thirdPartyId', 'CRM-9', {})]);
    expect(decodeURIComponent(file?.body.slice('batch='.length) ?? '')).toBe('thirdPartyId\nCRM-9');
  });
});
