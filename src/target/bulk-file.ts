import type { VisitorRef } from '../events/index.js';

/** Documented limits of one Bulk Profile Update v2 file (target-profile-api.md). */
export const BULK_MAX_ROWS = 500_000;
/** "A file under 50 MB": the encoded request body stays strictly below this. */
export const BULK_MAX_BYTES = 50 * 1024 * 1024;

/** One visitor's row: identity and attribute values (bare names, no `profile.`). */
export interface BulkRow {
  visitor: VisitorRef;
  values: ReadonlyMap<string, string>;
}

/** One request body ready to POST, and the visitors it carries (same order as its rows). */
export interface BulkFile {
  kind: VisitorRef['kind'];
  body: string;
  visitors: VisitorRef[];
  columns: string[];
}

/**
 * Encoding, in two layers (the simulator reads it the same way: src/simulator/bulk-format.ts):
 * 1. every cell — id, header names and values — is percent-encoded with encodeURIComponent,
 *    so a comma, quote, newline or CR inside a value can never split a cell or a row (P8);
 * 2. the whole file (`pcId,a,b\n<id>,<v1>,<v2>…`) is form-encoded once more after `batch=`,
 *    because Target form-decodes the body: a raw `%` would reject the batch, a raw `&` would
 *    truncate it there, a raw `+` would become a space and `=` could be misread (documented).
 * Adobe documents only the form layer; it documents no CSV quoting. Cell escaping is this
 * project's choice so that no value can change the file's shape. Empty cells are left empty:
 * Target ignores them (they never clear a stored value).
 */
function cell(value: string): string {
  return encodeURIComponent(value);
}

/** Bytes one character of the inner file costs after the outer form encoding. */
function formEncodedLength(text: string): number {
  // Inner cells are already ASCII (encodeURIComponent); the outer layer only expands
  // `%`, `,` and `\n` (3 bytes each). Measuring it this way avoids encoding twice.
  let n = 0;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    n += c === 37 || c === 44 || c === 10 ? 3 : 1;
  }
  return n;
}

/**
 * Builds bulk v2 files: one set per identity kind (`pcId` or `thirdPartyId`), each file with
 * the union of its visitors' attribute names as columns, split so that no file exceeds
 * `maxRows` rows or `maxBytes` bytes. Rows are never cut. Pure.
 */
export function buildBulkFiles(rows: readonly BulkRow[], limits: { maxRows?: number; maxBytes?: number } = {}): BulkFile[] {
  const maxRows = limits.maxRows ?? BULK_MAX_ROWS;
  const maxBytes = limits.maxBytes ?? BULK_MAX_BYTES - 1;
  const files: BulkFile[] = [];
  for (const kind of ['pcId', 'thirdPartyId'] as const) {
    const ofKind = rows.filter((r) => r.visitor.kind === kind);
    if (ofKind.length === 0) continue;
    const columns = [...new Set(ofKind.flatMap((r) => [...r.values.keys()]))].sort();
    const header = [kind, ...columns].map(cell).join(',');
    const prefixBytes = 'batch='.length + formEncodedLength(header);
    let lines: string[] = [];
    let visitors: VisitorRef[] = [];
    let bytes = prefixBytes;
    const flush = (): void => {
      if (lines.length === 0) return;
      files.push({ kind, columns, visitors, body: `batch=${encodeURIComponent([header, ...lines].join('\n'))}` });
      lines = [];
      visitors = [];
      bytes = prefixBytes;
    };
    for (const row of ofKind) {
      const line = [cell(row.visitor.id), ...columns.map((c) => (row.values.has(c) ? cell(row.values.get(c) ?? '') : ''))].join(',');
      const lineBytes = 3 + formEncodedLength(line); // the "\n" before it costs %0A
      if (prefixBytes + lineBytes > maxBytes) throw new RangeError(`one bulk row of ${lineBytes} bytes cannot fit in a ${maxBytes}-byte file`);
      if (lines.length >= maxRows || bytes + lineBytes > maxBytes) flush();
      lines.push(line);
      visitors.push(row.visitor);
      bytes += lineBytes;
    }
    flush();
  }
  return files;
}
