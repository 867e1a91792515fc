import { Transform, type TransformCallback } from 'node:stream';

/**
 * Counts line breaks by byte offset as bytes stream past, so a parser that reports only
 * byte offsets (csv-parse) can still name lines. csv-parse's own line count drifts when a
 * quoted cell holds a CRLF. Chunks are kept only until the cursor has passed them, so
 * memory stays bounded by what the parser buffers.
 */
export class LineCounter extends Transform {
  private readonly chunks: Array<{ start: number; bytes: Buffer }> = [];
  private received: number;
  private cursor: number;
  private linesBeforeCursor: number;

  constructor(from: { offset: number; line: number }) {
    super();
    this.received = from.offset;
    this.cursor = from.offset;
    this.linesBeforeCursor = from.line;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.chunks.push({ start: this.received, bytes: chunk });
    this.received += chunk.length;
    done(null, chunk);
  }

  /** Line breaks before byte `offset`; offsets must not go backwards between calls. */
  linesBefore(offset: number): number {
    if (offset < this.cursor) throw new Error(`LineCounter: offset ${offset} is behind ${this.cursor}`);
    while (this.cursor < offset) {
      const chunk = this.chunks[0];
      if (chunk === undefined) break;
      const end = chunk.start + chunk.bytes.length;
      const stop = Math.min(offset, end);
      for (
        let at = chunk.bytes.indexOf(0x0a, this.cursor - chunk.start);
        at !== -1 && at < stop - chunk.start;
        at = chunk.bytes.indexOf(0x0a, at + 1)
      ) {
        this.linesBeforeCursor += 1;
      }
      this.cursor = stop;
      if (stop === end) this.chunks.shift();
    }
    return this.linesBeforeCursor;
  }
}
