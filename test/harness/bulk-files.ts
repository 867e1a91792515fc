import { BulkFileBuilder, type BulkFile, type BulkRow } from '../../src/target/bulk-file.js';

/**
 * Builds bulk v2 files: one set per identity kind (`pcId` or `thirdPartyId`), each file with
 * the union of its visitors' attribute names as columns, split so that no file exceeds
 * `maxRows` rows or `maxBytes` bytes. Rows are never cut. Pure. Tests build whole files
 * at once; the deliver job adds rows to a BulkFileBuilder chunk by chunk.
 */
export function buildBulkFiles(
  rows: readonly BulkRow[],
  limits: { maxRows?: number; maxBytes?: number } = {},
): BulkFile[] {
  const builder = new BulkFileBuilder();
  for (const row of rows) builder.add(row.visitor, row.values);
  return builder.build(limits);
}
