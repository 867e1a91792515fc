import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream';
import { parse, type CsvError, type Info } from 'csv-parse';
import type { CompiledMapping } from '../../events/index.js';
import { rowToEvent, type CsvLayout } from './csv-columns.js';
import { LineCounter } from './line-counter.js';
import { ImportSetupError, type ImportRecord, type ReadPosition, type RecordStream } from './records.js';

// Quotes inside unquoted cells and rows of the wrong width are common in till exports;
// they are taken (or rejected per row) instead of stopping the whole file.
const PARSER_OPTIONS = {
  info: true,
  relax_quotes: true,
  relax_column_count: true,
  skip_empty_lines: true,
  skip_records_with_error: true,
} as const;

/** The header row of a CSV file, and the position of the first data row. */
export async function readCsvHeader(path: string): Promise<{ header: string[]; start: ReadPosition }> {
  const counter = new LineCounter({ offset: 0, line: 0 });
  const parser = pipeline(createReadStream(path), counter, parse({ ...PARSER_OPTIONS, bom: true }), () => undefined);
  for await (const row of parser as AsyncIterable<{ record: string[]; info: Info }>) {
    const offset = row.info.bytes;
    parser.destroy();
    return { header: row.record, start: { offset, line: counter.linesBefore(offset) } };
  }
  throw new ImportSetupError(['the file is empty: a CSV import needs a header row naming the columns']);
}

/**
 * Reads CSV rows from `from` (at or after the first data row) as records, in bounded
 * memory. A row that breaks CSV syntax is rejected alone with csv-parse's reason.
 */
export async function* readCsvRecords(
  path: string,
  layout: CsvLayout,
  mapping: CompiledMapping,
  from: ReadPosition,
): RecordStream {
  const counter = new LineCounter(from);
  const parser = pipeline(
    createReadStream(path, { start: from.offset, highWaterMark: 256 * 1024 }),
    counter,
    parse(PARSER_OPTIONS),
    () => undefined,
  );
  const skipped: ImportRecord[] = [];
  parser.on('skip', (error: CsvError) => {
    // csv-parse counts its own lines; good enough to point at a broken row.
    skipped.push({
      line: from.line + Number((error as { lines?: unknown }).lines ?? 1),
      error: `not valid CSV: ${error.message.replace(/ at line \d+/, '')}`,
    });
  });
  let records: ImportRecord[] = [];
  for await (const row of parser as AsyncIterable<{ record: string[]; info: Info }>) {
    const end = from.offset + row.info.bytes;
    // The row starts after the line breaks before its last byte, less those inside its cells.
    const inside = row.record.reduce((n, cell) => n + countLineBreaks(cell), 0);
    const line = counter.linesBefore(end - 1) + 1 - inside;
    // Lines through the row's last one, also when the file does not end with a line break.
    const next = { offset: end, line: line + inside };
    const built = rowToEvent(layout, row.record, mapping);
    if (skipped.length > 0) records.push(...skipped.splice(0));
    records.push('error' in built ? { line, next, error: built.error } : { line, next, event: built.event });
    if (records.length >= 500) {
      yield records;
      records = [];
    }
  }
  records.push(...skipped.splice(0));
  if (records.length > 0) yield records;
}

function countLineBreaks(text: string): number {
  let n = 0;
  for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) n += 1;
  return n;
}
