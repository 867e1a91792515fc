import { open, stat } from 'node:fs/promises';
import { extname } from 'node:path';
import { acceptBatch, type AcceptCounts, type IntakeDeps } from '../accept.js';
import { CheckpointStore, fileFingerprint, type Checkpoint } from './checkpoint.js';
import { planColumns } from './csv-columns.js';
import { readCsvHeader, readCsvRecords } from './csv-records.js';
import { readNdjsonRecords } from './ndjson-records.js';
import type { ImportProgress } from './progress.js';
import type { ImportRecord, ReadPosition, RecordStream } from './records.js';
import { createRedactionPolicy, type RedactionPolicy } from '../../redact.js';
import { RejectsFile, type RejectEntry } from './rejects-file.js';

export type ImportFormat = 'csv' | 'ndjson';

export interface ImportOptions {
  file: string;
  /** Recorded on every event; ids are deduplicated per source. */
  source: string;
  /** Default: by extension (.csv; .ndjson, .jsonl, .json), else by the first byte. */
  format?: ImportFormat;
  /** Events per acceptBatch call (and per checkpoint); default 500. */
  batchSize?: number;
  /** Default `<file>.rejects.ndjson`. */
  rejectsPath?: string;
  /** CSV column renames (`--map old=new`). */
  columnMap?: ReadonlyMap<string, string>;
  /** Ignore a saved checkpoint and read from the start. */
  restart?: boolean;
}

export interface ImportDeps {
  intake: IntakeDeps;
  checkpoints: CheckpointStore;
  /**
   * What the rejects file masks with (src/redact.ts). Default: a policy from the intake's
   * mapping and the environment's secrets.
   */
  redaction?: RedactionPolicy;
}

export interface ImportHooks {
  /** Aborting stops the import after the batch in hand is stored and checkpointed. */
  signal?: AbortSignal;
  onProgress?: (progress: ImportProgress) => void;
}

/** The outcome; counts include earlier runs of a resumed import. */
export interface ImportSummary {
  status: 'completed' | 'interrupted' | 'already-imported';
  lines: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  /** Lines an earlier run had already done, when this run resumed. */
  resumedAfterLine?: number;
  linesThisRun: number;
  elapsedMs: number;
  /** Set when the rejects file holds anything. */
  rejectsPath?: string;
}

const EMPTY: AcceptCounts = { accepted: 0, duplicates: 0, rejected: [] };

/**
 * Streams a file through intake in batches: each batch goes through acceptBatch on Redis
 * directly (as the SDK does), is awaited (natural backpressure: the file is read no faster
 * than Redis takes it), has its rejects written, and is then checkpointed. A rerun resumes
 * after the last checkpointed batch; events of a batch that was stored but not yet
 * checkpointed come back as duplicates (P2), never applied twice.
 */
export async function importFile(
  options: ImportOptions,
  deps: ImportDeps,
  hooks: ImportHooks = {},
): Promise<ImportSummary> {
  const startedAt = Date.now();
  const { file, source } = options;
  const redaction = deps.redaction ?? createRedactionPolicy({ mapping: deps.intake.mapping });
  const fingerprint = await fileFingerprint(file, source);
  const saved = options.restart === true ? undefined : await deps.checkpoints.load(fingerprint);
  const rejectsPath = options.rejectsPath ?? `${file}.rejects.ndjson`;
  const counts = { accepted: saved?.accepted ?? 0, duplicates: saved?.duplicates ?? 0, rejected: saved?.rejected ?? 0 };
  const summary = (
    status: ImportSummary['status'],
    position: ReadPosition,
    linesThisRun: number,
    rejectsBytes: number,
  ): ImportSummary => ({
    status,
    lines: position.line,
    ...counts,
    ...(saved !== undefined && saved.line > 0 && status !== 'already-imported' ? { resumedAfterLine: saved.line } : {}),
    linesThisRun,
    elapsedMs: Date.now() - startedAt,
    ...(rejectsBytes > 0 ? { rejectsPath } : {}),
  });
  if (saved?.done === true) {
    // Named only if it is still there: the same file may have been imported from elsewhere.
    const rejectsLeft = (await stat(rejectsPath).catch(() => undefined))?.size ?? 0;
    return summary('already-imported', saved, 0, rejectsLeft);
  }

  let position: ReadPosition = { offset: saved?.offset ?? 0, line: saved?.line ?? 0 };
  const records = await openRecords(options, deps, position, (start) => (position = start));
  const { size } = await stat(file);
  const rejects = await RejectsFile.open(rejectsPath, saved?.rejectsBytes ?? 0);
  const firstLine = position.line;
  const firstOffset = position.offset;
  const batchSize = options.batchSize ?? 500;
  const checkpoint = (done: boolean): Checkpoint => ({
    ...position,
    ...counts,
    rejectsBytes: rejects.bytes,
    done,
    updatedAt: Date.now(),
  });

  const storeBatch = async (batch: ImportRecord[]): Promise<void> => {
    const readable = batch.filter((r) => r.error === undefined);
    const result =
      readable.length === 0
        ? EMPTY
        : await acceptBatch(
            deps.intake,
            source,
            readable.map((r) => r.event),
          );
    const entries: RejectEntry[] = batch
      .filter((r) => r.error !== undefined)
      .map((r) => ({ line: r.line, errors: [redaction.text(r.error ?? '')] }));
    for (const r of result.rejected) {
      const record = readable[r.index];
      if (record !== undefined)
        entries.push({
          line: record.line,
          // The error stays (validation never quotes a private value); the record is masked.
          errors: r.errors.map((e) => redaction.text(e)),
          event: redaction.value(record.event),
        });
    }
    await rejects.write(entries.sort((a, b) => a.line - b.line));
    counts.accepted += result.accepted;
    counts.duplicates += result.duplicates;
    counts.rejected += entries.length;
    position = batch.findLast((r) => r.next !== undefined)?.next ?? position;
    await deps.checkpoints.save(fingerprint, checkpoint(false));
    hooks.onProgress?.({
      bytesDone: position.offset,
      bytesTotal: size,
      lines: position.line,
      ...counts,
      linesThisRun: position.line - firstLine,
      bytesThisRun: position.offset - firstOffset,
      startedAt,
    });
  };

  // One batch is stored while the next is read: reading (CPU) overlaps Redis round trips,
  // and batches still finish, write rejects and checkpoint strictly in file order.
  let storing: Promise<void> | undefined;
  const previousStored = async (): Promise<boolean> => {
    const previous = storing;
    storing = undefined;
    await previous;
    return hooks.signal?.aborted === true;
  };
  const interrupted = (): ImportSummary => summary('interrupted', position, position.line - firstLine, rejects.bytes);
  try {
    let batch: ImportRecord[] = [];
    for await (const chunk of records) {
      for (const record of chunk) {
        batch.push(record);
        if (batch.length < batchSize) continue;
        if (await previousStored()) return interrupted();
        storing = storeBatch(batch);
        // Handled here so a failure waits, unreported, until it is awaited above.
        storing.catch(() => undefined);
        batch = [];
      }
    }
    if (await previousStored()) return interrupted();
    if (batch.length > 0) await storeBatch(batch);
    // Blank lines at the end count as read.
    position = { offset: size, line: Math.max(position.line, await countLines(file, position)) };
    await deps.checkpoints.save(fingerprint, checkpoint(true));
    return summary('completed', position, position.line - firstLine, rejects.bytes);
  } finally {
    await storing?.catch(() => undefined);
    await rejects.close();
  }
}

async function openRecords(
  options: ImportOptions,
  deps: ImportDeps,
  from: ReadPosition,
  setStart: (start: ReadPosition) => void,
): Promise<RecordStream> {
  if ((options.format ?? (await detectFormat(options.file))) === 'ndjson') return readNdjsonRecords(options.file, from);
  // The header is read (and the columns checked) on every run, resumed or not.
  const { header, start } = await readCsvHeader(options.file);
  const layout = planColumns(header, options.columnMap ?? new Map());
  const begin = from.offset >= start.offset ? from : start;
  setStart(begin);
  return readCsvRecords(options.file, layout, deps.intake.mapping, begin);
}

async function detectFormat(file: string): Promise<ImportFormat> {
  const ext = extname(file).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (['.ndjson', '.jsonl', '.json'].includes(ext)) return 'ndjson';
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(1024);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return /^\s*\{/.test(
      head
        .subarray(0, bytesRead)
        .toString('utf8')
        .replace(/^\uFEFF/, ''),
    )
      ? 'ndjson'
      : 'csv';
  } finally {
    await handle.close();
  }
}

/** Line count of the file's tail after `from` (only blank lines are left there). */
async function countLines(file: string, from: ReadPosition): Promise<number> {
  const handle = await open(file, 'r');
  try {
    let lines = from.line;
    const buffer = Buffer.alloc(64 * 1024);
    for (let at = from.offset; ;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, at);
      if (bytesRead === 0) return lines;
      for (let i = buffer.indexOf(0x0a); i !== -1 && i < bytesRead; i = buffer.indexOf(0x0a, i + 1)) lines += 1;
      at += bytesRead;
    }
  } finally {
    await handle.close();
  }
}
