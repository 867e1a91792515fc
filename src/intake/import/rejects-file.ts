import { rm, stat, truncate, open, type FileHandle } from 'node:fs/promises';

/** One line of the rejects file. */
export interface RejectEntry {
  /** 1-based line of the record in the imported file. */
  line: number;
  errors: string[];
  /**
   * The record as read, masked by the redaction policy (private fields, card numbers,
   * credentials in URLs, secrets); absent when the line could not be read.
   */
  event?: unknown;
}

/**
 * The rejects file: NDJSON, one rejected record per line, in file order. Opened lazily, so
 * a clean import leaves no file behind. A resumed import cuts the file back to the size
 * saved with the checkpoint, so the records of an unfinished batch are not listed twice.
 */
export class RejectsFile {
  private handle: FileHandle | undefined;

  private constructor(
    readonly path: string,
    private size: number,
  ) {}

  /** `keepBytes` 0 starts a new file; more keeps that much of a previous run's file. */
  static async open(path: string, keepBytes: number): Promise<RejectsFile> {
    if (keepBytes === 0) {
      await rm(path, { force: true });
      return new RejectsFile(path, 0);
    }
    const existing = await stat(path).catch(() => undefined);
    if (existing !== undefined && existing.size > keepBytes) await truncate(path, keepBytes);
    return new RejectsFile(path, Math.min(existing?.size ?? 0, keepBytes));
  }

  get bytes(): number {
    return this.size;
  }

  async write(entries: readonly RejectEntry[]): Promise<void> {
    if (entries.length === 0) return;
    this.handle ??= await open(this.path, 'a');
    const text = Buffer.from(entries.map((e) => JSON.stringify(e)).join('\n') + '\n', 'utf8');
    await this.handle.write(text);
    this.size += text.length;
  }

  async close(): Promise<void> {
    await this.handle?.close();
    this.handle = undefined;
  }
}
