import { decodeFormComponent, decodePercent, describeMalformed, preview } from './form-encoding.js';
import { attributeNameProblem, type IdentityKind } from './identity.js';
import { BULK_MAX_ROWS } from './limits.js';

/** One visitor row: the id and one cell per attribute column (`undefined` = empty cell). */
export interface BatchRow {
  id: string;
  values: Array<string | undefined>;
}

/** A bulk file as Target would read it, or why Target would reject the whole batch. */
export type ParsedBatch =
  { ok: true; kind: IdentityKind; columns: string[]; rows: BatchRow[] } | { ok: false; message: string };

/**
 * Finds the value of the first `batch` parameter. The body is a form: a raw `&` ends the
 * parameter, so an unencoded `&` in a value silently truncates the batch there (documented);
 * whatever follows is another (ignored) parameter. Only the first `=` separates name and
 * value, so a raw `=` inside the file stays part of it.
 */
function findBatchValue(raw: string): string | undefined {
  let start = 0;
  let eq = raw.indexOf('=');
  for (;;) {
    const amp = raw.indexOf('&', start);
    const end = amp === -1 ? raw.length : amp;
    // Reuse the last '=' found while it lies ahead, so many '&' without '=' stay linear.
    if (eq !== -1 && eq < start) eq = raw.indexOf('=', start);
    if (eq !== -1 && eq < end && decodeFormComponent(raw.slice(start, eq)) === 'batch') {
      return raw.slice(eq + 1, end);
    }
    if (amp === -1) return undefined;
    start = amp + 1;
  }
}

/** Whether cells are percent-decoded once more after the form layer (see {@link parseBatchBody}). */
export type BulkCellDecoding = 'percent' | 'none';

/**
 * Reads a Bulk Profile Update body (v1 or v2: `batch=…`, `application/x-www-form-urlencoded`)
 * exactly the way the simulator's Target does. Two layers:
 *
 * 1. **Form layer (documented).** The body is split on raw `&` and the first `batch`
 *    parameter is taken (a raw `&` truncates the file); its value is form-decoded: `+`
 *    becomes a space, `%XX` are UTF-8 bytes, and a malformed escape (`%zz`, a lone `%`,
 *    non-UTF-8 bytes) rejects the whole batch (`success=false`).
 * 2. **Lines and cells.** The decoded file is split into lines on `\n` (a trailing `\r` is
 *    dropped) and each line on `,`. Whether Target decodes each cell once more is **not
 *    documented**, so by default (`cellDecoding: 'none'`) cells are taken as they are: a
 *    value reaches the store exactly as it stood in the file after the form layer, and a
 *    value holding `%`, `,`, `"`, CR or LF has no bulk encoding that is documented (a
 *    client that escapes `%` as `%25` in a cell stores `%25`). `'percent'` emulates a Target
 *    that percent-decodes every cell (header cells included) once more with plain
 *    `decodeURIComponent` semantics (`+` stays `+`; a malformed cell escape rejects the
 *    batch): a client whose bytes are right under both modes depends on nothing undocumented.
 *
 * Rules after decoding: the header is `pcId,<attr>…` or `thirdPartyId,<attr>…` with at
 * least one bare attribute name (no `profile.` prefix, no duplicates); blank lines are
 * ignored; a row with more cells than the header rejects the batch, fewer cells are padded
 * with empty cells; an empty cell becomes `undefined` (it never clears a stored value);
 * more than 500,000 rows reject the batch. Rows whose values are all empty are kept here;
 * the processor decides (batches.ts). Per-row problems (empty or invalid id, value too long)
 * are not batch failures: Target reports them as `failedUpdates`.
 */
export function parseBatchBody(raw: string, cellDecoding: BulkCellDecoding = 'none'): ParsedBatch {
  const encoded = findBatchValue(raw);
  if (encoded === undefined) return { ok: false, message: 'body has no "batch" parameter' };
  const file = decodeFormComponent(encoded);
  if (file === undefined) {
    return { ok: false, message: `batch is not valid form encoding: ${describeMalformed(encoded)}` };
  }
  const lines = file.split('\n').map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line));
  const header = lines[0] ?? '';
  const dataLines = lines.slice(1).filter((line) => line !== '');
  if (dataLines.length > BULK_MAX_ROWS) {
    return { ok: false, message: `batch has ${dataLines.length} rows, over the limit of ${BULK_MAX_ROWS}` };
  }

  const decodeCells = cellDecoding === 'percent' ? percentDecodedCells : (line: string): string[] => line.split(',');
  const headerCells = decodeCells(header);
  if (!Array.isArray(headerCells)) return { ok: false, message: `header line: ${headerCells.message}` };
  const [idColumn, ...columns] = headerCells;
  if (idColumn !== 'pcId' && idColumn !== 'thirdPartyId') {
    return { ok: false, message: `header must start with "pcId" or "thirdPartyId", got "${preview(idColumn ?? '')}"` };
  }
  const columnProblem = checkColumns(columns);
  if (columnProblem !== undefined) return { ok: false, message: `header line: ${columnProblem}` };

  const rows: BatchRow[] = [];
  for (const [index, line] of dataLines.entries()) {
    const cells = decodeCells(line);
    const where = `data row ${index + 1}`;
    if (!Array.isArray(cells)) return { ok: false, message: `${where}: ${cells.message}` };
    if (cells.length > columns.length + 1) {
      return { ok: false, message: `${where} has ${cells.length} cells but the header has ${columns.length + 1}` };
    }
    const values = columns.map((_, i) => {
      const cell = cells[i + 1];
      return cell === undefined || cell === '' ? undefined : cell;
    });
    rows.push({ id: cells[0] ?? '', values });
  }
  return { ok: true, kind: idColumn, columns, rows };
}

function percentDecodedCells(line: string): string[] | { message: string } {
  const cells: string[] = [];
  for (const [index, cell] of line.split(',').entries()) {
    const decoded = decodePercent(cell);
    if (decoded === undefined) return { message: `cell ${index + 1} is malformed: ${describeMalformed(cell)}` };
    cells.push(decoded);
  }
  return cells;
}

function checkColumns(columns: string[]): string | undefined {
  if (columns.length === 0) return 'no attribute columns';
  const seen = new Set<string>();
  for (const column of columns) {
    const nameProblem = attributeNameProblem(column);
    if (nameProblem !== undefined) return nameProblem;
    // Not documented what Target does with it; rejecting surfaces a client bug at once.
    if (column.startsWith('profile.')) return `column "${preview(column)}" must be a bare name without "profile."`;
    if (seen.has(column)) return `column "${preview(column)}" appears twice`;
    seen.add(column);
  }
  return undefined;
}
