import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EnvSchema, loadConfig } from '../../../src/config.js';
import { configRows, DOC_PATH, renderConfigDoc, TABLE_END, TABLE_START } from '../../../scripts/gen-config-docs.js';

const doc = readFileSync(DOC_PATH, 'utf8');

describe('docs/configuration.md', () => {
  it('is what scripts/gen-config-docs.ts writes from src/config.ts (run `npx tsx scripts/gen-config-docs.ts`)', () => {
    expect(doc).toContain(TABLE_START);
    expect(doc).toContain(TABLE_END);
    expect(renderConfigDoc(doc)).toBe(doc);
  });

  it('has a row for every variable of the schema, and no other', () => {
    const keys = Object.keys(EnvSchema.shape);
    expect(keys.length).toBeGreaterThan(60);
    const table = doc.slice(doc.indexOf(TABLE_START), doc.indexOf(TABLE_END));
    const documented = [...table.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]);
    expect(documented).toEqual(keys);
    for (const key of ['HOST', 'BULK_CALLS_WINDOW_MS']) expect(table).toContain(`| \`${key}\` |`);
  });

  it('describes every variable, and shows the default loadConfig applies', () => {
    const defaults = loadConfig({}) as unknown as Record<string, unknown>;
    for (const row of configRows()) {
      expect(row.description.length, row.name).toBeGreaterThan(10);
      const value = defaults[row.name];
      if (row.default === '—') continue;
      const shown = typeof value === 'string' && value.includes(',') ? value.split(',')[0] : value;
      expect(row.default, row.name).toContain(`\`${String(shown)}`);
    }
  });

  it('keeps the hand-written notes above the table', () => {
    const notes = '# Configuration\n\nhand-written\n\n';
    const written = renderConfigDoc(`${notes}${TABLE_START}\nold table\n${TABLE_END}\n`);
    expect(written.startsWith(notes)).toBe(true);
    expect(written).not.toContain('old table');
    expect(written).toContain('| `REDIS_URL` |');
  });
});
