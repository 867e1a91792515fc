import type { VisitorRef } from '../events/index.js';

/** Documented limits of one Bulk Profile Update file (docs/target.md, "File limits"). */
export const BULK_MAX_ROWS = 500_000;
/** "A file under 50 MB": the encoded request body stays strictly below this; the strictest reading of MB (10^6 bytes, not 2^20). */
export const BULK_MAX_BYTES = 50_000_000;

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
  /** Oldest event and intake times of its rows, from what {@link BulkFileBuilder.add} was told. */
  oldest: OldestTimes;
}

/** The oldest event time and intake time (ms) of some values, for latency metrics. */
export interface OldestTimes {
  oldestEventMs?: number;
  oldestIntakeMs?: number;
}

/** Folds `from` into `into`: each time becomes the older of the two. */
export function mergeOldest(into: OldestTimes, from: OldestTimes): void {
  if (from.oldestEventMs !== undefined)
    into.oldestEventMs = Math.min(into.oldestEventMs ?? Infinity, from.oldestEventMs);
  if (from.oldestIntakeMs !== undefined)
    into.oldestIntakeMs = Math.min(into.oldestIntakeMs ?? Infinity, from.oldestIntakeMs);
}

/** What a cell escapes: the characters that could change the file's shape, and `%` itself. */
const CELL_ESCAPES: Readonly<Record<string, string>> = { '%': '%25', ',': '%2C', '"': '%22', '\r': '%0D', '\n': '%0A' };
const CELL_SPECIAL = /[%,"\r\n]/;
const CELL_SPECIAL_ALL = /[%,"\r\n]/g;

/**
 * Encoding, in two layers (the simulator reads it the same way: src/simulator/bulk-format.ts):
 * 1. in every cell — id, header names and values — only `%`, `,`, `"`, CR and LF are
 *    percent-escaped (`%25`, `%2C`, `%22`, `%0D`, `%0A`), so no value can split a cell or a
 *    row (P8); everything else, `+ = & : ;`, spaces and any Unicode included, stays as is;
 * 2. the whole file (`pcId,a,b\n<id>,<v1>,<v2>…`) is form-encoded after `batch=`
 *    (encodeURIComponent), because Target form-decodes the body: a raw `%` would reject the
 *    batch, a raw `&` would truncate it there, a raw `+` would become a space and `=` could be
 *    misread (documented).
 * Written choice: Adobe documents only the form layer, and neither CSV quoting nor whether it
 * percent-decodes cells once more. Escaping only those five characters makes an ordinary
 * value (timestamps, spaces, `+`, `&`, `=`, non-ASCII) arrive the same under either reading;
 * only a value holding `%`, `,`, `"`, CR or LF relies on Target decoding the cell (a Target
 * that did not would store it with those escapes; the simulator's `bulkCellDecoding: 'none'`
 * shows that case). Empty cells are left empty: Target ignores them (they never clear a
 * stored value).
 */
function cell(value: string): string {
  return CELL_SPECIAL.test(value) ? value.replace(CELL_SPECIAL_ALL, (c) => CELL_ESCAPES[c] ?? c) : value;
}

/** encodeURIComponent leaves these ASCII characters as they are (1 byte); others cost 3 per UTF-8 byte. */
const UNRESERVED = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.!~*'()")
  UNRESERVED[c.charCodeAt(0)] = 1;

/**
 * `encodeURIComponent(text).length`, computed without building the string: an unreserved
 * ASCII character costs 1 byte, any other character 3 bytes per UTF-8 byte (`%XX` each): 3
 * for other ASCII, 6 below U+0800, 9 for the rest of the BMP, 12 for a surrogate pair.
 * Exported for its test.
 */
export function formEncodedLength(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += UNRESERVED[c] === 1 ? 1 : 3;
    else if (c < 0x800) n += 6;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        n += 12;
        i += 1;
      } else {
        n += 9;
      }
    } else {
      n += 9;
    }
  }
  return n;
}

/** The rows of one identity kind, kept compact: ids, and each row's names and values flat. */
interface KindRows {
  visitors: VisitorRef[];
  times: Array<OldestTimes | undefined>;
  /** Per row: name, value, name, value, … (names interned). */
  cells: string[][];
  columns: Set<string>;
}

/**
 * Collects bulk rows one at a time and builds the files at the end. It keeps a row as its id and a flat array of its names (shared
 * across rows) and values, a few hundred bytes, so a deliver job can read a 50,000-visitor
 * claim in chunks and let each chunk's snapshots go (2 KB a visitor) before the next.
 */
export class BulkFileBuilder {
  private readonly kinds = new Map<VisitorRef['kind'], KindRows>();
  private readonly names = new Map<string, string>();
  private count = 0;

  /** Rows added so far. */
  get rows(): number {
    return this.count;
  }

  add(visitor: VisitorRef, values: Iterable<readonly [string, string]>, times?: OldestTimes): void {
    let rows = this.kinds.get(visitor.kind);
    if (rows === undefined) {
      rows = { visitors: [], times: [], cells: [], columns: new Set() };
      this.kinds.set(visitor.kind, rows);
    }
    const flat: string[] = [];
    for (const [name, value] of values) {
      let shared = this.names.get(name);
      if (shared === undefined) {
        shared = name;
        this.names.set(name, name);
      }
      rows.columns.add(shared);
      flat.push(shared, value);
    }
    rows.visitors.push(visitor);
    rows.times.push(times);
    rows.cells.push(flat);
    this.count += 1;
  }

  /**
   * The files: one set per identity kind (`pcId` or `thirdPartyId`), each file with the
   * union of its kind's attribute names as columns, split so that no file exceeds `maxRows`
   * rows or `maxBytes` bytes. Rows are never cut. Hands its rows over: the builder is empty
   * afterwards, and unusable after a RangeError (a row that fits in no file).
   */
  build(limits: { maxRows?: number; maxBytes?: number } = {}): BulkFile[] {
    const maxRows = limits.maxRows ?? BULK_MAX_ROWS;
    const maxBytes = limits.maxBytes ?? BULK_MAX_BYTES - 1;
    const files: BulkFile[] = [];
    for (const kind of ['pcId', 'thirdPartyId'] as const) {
      const rows = this.kinds.get(kind);
      if (rows === undefined || rows.visitors.length === 0) continue;
      this.kinds.delete(kind);
      const columns = [...rows.columns].sort();
      const position = new Map(columns.map((c, i) => [c, i]));
      const header = [kind, ...columns].map(cell).join(',');
      const prefixBytes = 'batch='.length + formEncodedLength(header);
      let lines: string[] = [];
      let visitors: VisitorRef[] = [];
      let bytes = prefixBytes;
      let oldest: OldestTimes = {};
      const flush = (): void => {
        if (lines.length === 0) return;
        files.push({
          kind,
          columns,
          visitors,
          body: `batch=${encodeURIComponent([header, ...lines].join('\n'))}`,
          oldest,
        });
        lines = [];
        visitors = [];
        bytes = prefixBytes;
        oldest = {};
      };
      const row: string[] = new Array<string>(columns.length);
      for (let r = 0; r < rows.visitors.length; r += 1) {
        const visitor = rows.visitors[r] as VisitorRef;
        const flat = rows.cells[r] ?? [];
        row.fill('');
        for (let i = 0; i + 1 < flat.length; i += 2) row[position.get(flat[i] ?? '') ?? 0] = cell(flat[i + 1] ?? '');
        const line = columns.length > 0 ? `${cell(visitor.id)},${row.join(',')}` : cell(visitor.id);
        const lineBytes = 3 + formEncodedLength(line); // the "\n" before it costs %0A
        if (prefixBytes + lineBytes > maxBytes)
          throw new RangeError(`one bulk row of ${lineBytes} bytes cannot fit in a ${maxBytes}-byte file`);
        if (lines.length >= maxRows || bytes + lineBytes > maxBytes) flush();
        lines.push(line);
        visitors.push(visitor);
        bytes += lineBytes;
        mergeOldest(oldest, rows.times[r] ?? {});
        rows.cells[r] = [];
      }
      flush();
    }
    this.count = 0;
    return files;
  }
}
