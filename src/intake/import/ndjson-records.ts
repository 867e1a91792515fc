import { createReadStream } from 'node:fs';
import { isBlankLine, parseJsonLine } from '../json-line.js';
import type { ImportRecord, ReadPosition, RecordStream } from './records.js';

/** Longest line read; a longer one is rejected without being held in memory. */
export const MAX_LINE_BYTES = 1024 * 1024;

/**
 * Reads an NDJSON file from `from`, one record per non-blank line, in bounded memory: the
 * file is streamed, and only the line being read is held (at most {@link MAX_LINE_BYTES}).
 * Lines are split on the LF byte, which never occurs inside a UTF-8 sequence, so byte
 * offsets stay exact for resuming.
 */
export async function* readNdjsonRecords(path: string, from: ReadPosition): RecordStream {
  const stream = createReadStream(path, { start: from.offset, highWaterMark: 64 * 1024 });
  let partial: Buffer[] = [];
  let partialBytes = 0;
  let tooLong = false;
  let line = from.line;
  let chunkStart = from.offset;
  const finish = (bytes: Buffer, end: number): ImportRecord | undefined => {
    line += 1;
    const next = { offset: end, line };
    if (tooLong) return { line, next, error: `line is longer than ${MAX_LINE_BYTES} bytes` };
    const content = bytes.length > 0 && bytes[bytes.length - 1] === 0x0d ? bytes.subarray(0, -1) : bytes;
    if (isBlankLine(content)) return undefined;
    const parsed = parseJsonLine(content);
    return 'problem' in parsed ? { line, next, error: parsed.problem } : { line, next, event: parsed.value };
  };
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    const records: ImportRecord[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(0x0a); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, nl);
      if (partialBytes + piece.length > MAX_LINE_BYTES) tooLong = true;
      const record = finish(
        partialBytes === 0 || tooLong ? piece : Buffer.concat([...partial, piece]),
        chunkStart + nl + 1,
      );
      if (record !== undefined) records.push(record);
      partial = [];
      partialBytes = 0;
      tooLong = false;
      start = nl + 1;
    }
    if (start < chunk.length && !tooLong) {
      partialBytes += chunk.length - start;
      if (partialBytes > MAX_LINE_BYTES) {
        tooLong = true;
        partial = [];
      } else {
        // A copy, so the rest of the chunk is not kept alive by the slice.
        partial.push(Buffer.from(chunk.subarray(start)));
      }
    }
    chunkStart += chunk.length;
    if (records.length > 0) yield records;
  }
  if (partialBytes > 0 || tooLong) {
    const record = finish(Buffer.concat(partial), chunkStart);
    if (record !== undefined) yield [record];
  }
}
