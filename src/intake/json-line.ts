import { describeJsonSyntaxProblem } from './json-syntax.js';
import { firstInvalidUtf8Byte } from './utf8.js';

/**
 * Parses one NDJSON line (without its line break), for HTTP intake and the file import.
 * A problem reads after "line N is …": `not valid JSON: unexpected end of input at column 6`.
 */
export function parseJsonLine(line: Uint8Array): { value: unknown } | { problem: string } {
  const invalid = firstInvalidUtf8Byte(line);
  if (invalid !== -1) return { problem: `not valid UTF-8 (first bad byte at offset ${invalid} of the line)` };
  const text = Buffer.from(line.buffer, line.byteOffset, line.byteLength).toString('utf8');
  try {
    return { value: JSON.parse(text) as unknown };
  } catch {
    return {
      problem: `not valid JSON: ${describeJsonSyntaxProblem(text).replace(/ at line 1, (column \d+)$/, ' at $1')}`,
    };
  }
}

/** True for a line of nothing but spaces, tabs and carriage returns: skipped, not rejected. */
export function isBlankLine(line: Uint8Array): boolean {
  for (const byte of line) if (byte !== 0x20 && byte !== 0x09 && byte !== 0x0d) return false;
  return true;
}
