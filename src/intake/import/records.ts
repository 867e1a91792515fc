/**
 * Terminology of the file import
 * - record: one event read from the file (an NDJSON line, or a CSV row that may span
 *   several lines when a quoted cell holds a line break).
 * - position: a byte offset in the file and the number of lines before it; a resumed
 *   import starts reading at the position after the last batch Redis took.
 */

/** A point in the file: reading resumes at `offset`; `line` lines lie before it. */
export interface ReadPosition {
  offset: number;
  line: number;
}

/** One record: the raw event to validate, or why it could not be read. */
export interface ImportRecord {
  /** 1-based line where the record starts, as an editor shows it. */
  line: number;
  /** Just past the record; absent when the reader cannot tell exactly (a CSV syntax error). */
  next?: ReadPosition;
  event?: unknown;
  error?: string;
}

/** Records in file order, a chunk at a time (one await per chunk, not per line). */
export type RecordStream = AsyncIterable<ImportRecord[]>;

/** A problem with the import's setup (columns, options); `problems` holds one line each. */
export class ImportSetupError extends Error {
  readonly code = 'IMPORT_SETUP_INVALID';

  constructor(readonly problems: readonly string[]) {
    super(`cannot import:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ImportSetupError';
  }
}
