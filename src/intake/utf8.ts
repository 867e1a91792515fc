import { isUtf8 } from 'node:buffer';

/**
 * Byte offset of the first ill-formed UTF-8 sequence in `bytes`, or -1 when all of it is
 * valid UTF-8. Intake refuses such input instead of decoding it with replacement
 * characters, which would silently change ids and values.
 */
export function firstInvalidUtf8Byte(bytes: Uint8Array): number {
  if (isUtf8(bytes)) return -1;
  // Valid bytes survive a decode/encode round trip unchanged, so the copies first differ
  // at most 2 bytes past the broken sequence (U+FFFD is EF BF BD); the longest valid
  // prefix then ends exactly where the broken sequence starts.
  const reencoded = Buffer.from(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'), 'utf8');
  let differs = 0;
  while (differs < bytes.length && bytes[differs] === reencoded[differs]) differs += 1;
  for (let end = differs; end >= Math.max(0, differs - 3); end -= 1) {
    if (isUtf8(bytes.subarray(0, end))) return end;
  }
  return differs;
}
