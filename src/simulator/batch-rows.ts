import type { BatchRow } from './bulk-format.js';
import { attributeValueProblem, identityProblem, type IdentityKind } from './identity.js';
import type { ProfileStore } from './store.js';
import type { BatchStatusView } from './xml.js';

/** Which Bulk Profile Update API took a batch. */
export type BulkApi = 'v1' | 'v2';

/** The rows of one batch and how the API that took it treats them. */
export interface BatchRows {
  /** Default `'v2'`. */
  api?: BulkApi;
  kind: IdentityKind;
  columns: string[];
  rows: BatchRow[];
}

/** How the rows of one batch are applied. */
export interface ApplyRowsOptions {
  /** Longest value accepted in a cell; longer makes that row a failed update. */
  maxValueLength: number;
  /** Apply the v2 override (store.ts) to v2 rows. */
  v2Override: boolean;
  /** List the ids of failed rows in the status details. */
  listFailedRows: boolean;
  /** Indexes of rows refused by `rejectVisitor`. */
  rejectedRows: ReadonlySet<number>;
  /** Indexes of rows that fail unlisted (`failRowsUnlisted`). */
  unlistedRows: ReadonlySet<number>;
  /** Indexes of rows counted successful but never stored (`bulkRowLoss`, `loseBulkRows`). */
  lostRows: ReadonlySet<number>;
  /** Running totals (the SimulatorStats). */
  counters: { overrideRemovals: number; failedRows: number; lostRows: number };
  /** Never-seen ids v1 takes as existing profiles (BatchQueueOptions.updateOnlyCreates). */
  updateOnlyCreates: (kind: IdentityKind) => boolean;
}

/** Attribute name → non-empty value of one row. */
function rowAttributes(columns: readonly string[], row: BatchRow): Map<string, string> {
  const attrs = new Map<string, string>();
  columns.forEach((column, i) => {
    const value = row.values[i];
    if (value !== undefined && value !== '') attrs.set(column, value);
  });
  return attrs;
}

/**
 * Applies the rows of a completed batch to the store and fills in its status counters.
 *
 * - An empty cell sets nothing (documented: empty values never clear a stored value). A
 *   batch whose rows are all empty is ignored entirely (documented): consumed, nothing else.
 * - A row with only empty cells in another batch sets nothing and counts neither way; for
 *   v2 it still counts as an update of that visitor for the override (strictest reading).
 * - A row with an invalid id or value, over the 64 KB profile cap, or refused by a fault is
 *   a failed update; its id is listed in `failedIds` unless `failRowsUnlisted` hit it or
 *   `listFailedRows` is off (Adobe's release notes list failed ids; whether always is not
 *   documented).
 * - A lost row (`lostRows`) that is otherwise valid counts as a successful update and
 *   changes nothing: not the profile, not the override (it never reached the profile).
 * - v2 rows create profiles they do not find and follow the override rule (store.ts); v1
 *   rows update existing profiles only (documented: an unknown or expired id counts in
 *   `profilesNotFound`) and override nothing (no override is documented for v1).
 */
export function applyBatchRows(
  store: ProfileStore,
  input: BatchRows,
  record: BatchStatusView,
  options: ApplyRowsOptions,
): void {
  const rows = input.rows.map((row) => ({ row, attrs: rowAttributes(input.columns, row) }));
  const ignored = rows.every(({ attrs }) => attrs.size === 0);
  const v1 = input.api === 'v1';
  const override = !v1 && options.v2Override;
  const fail = (index: number, id: string): void => {
    record.failedUpdates += 1;
    options.counters.failedRows += 1;
    if (options.listFailedRows && !options.unlistedRows.has(index)) record.failedIds.push(id);
  };
  for (const [index, { row, attrs }] of rows.entries()) {
    record.consumedCount += 1;
    if (ignored) continue;
    const refused = options.rejectedRows.has(index) || options.unlistedRows.has(index);
    if (attrs.size === 0) {
      if (override && !refused && identityProblem(input.kind, row.id) === undefined) {
        options.counters.overrideRemovals += store.applyRow(input.kind, row.id, attrs, {
          create: false,
          via: 'bulk',
          v2Override: true,
        }).removed.length;
      }
      continue;
    }
    if (refused || !rowIsValid(input.kind, row.id, attrs, options.maxValueLength)) {
      fail(index, row.id);
      continue;
    }
    if (options.lostRows.has(index)) {
      record.successfulUpdates += 1;
      options.counters.lostRows += 1;
      continue;
    }
    // v1 creates only what the simulator takes as existing (updateOnlyCreates), never an expired profile.
    const create = !v1 || options.updateOnlyCreates(input.kind);
    const { outcome, removed } = store.applyRow(input.kind, row.id, attrs, {
      create,
      via: 'bulk',
      v2Override: override,
      updateOnly: v1,
    });
    options.counters.overrideRemovals += removed.length;
    if (outcome === 'created' || outcome === 'updated') record.successfulUpdates += 1;
    else if (outcome === 'notFound') record.profilesNotFound += 1;
    else fail(index, row.id);
  }
}

function rowIsValid(kind: IdentityKind, id: string, attrs: Map<string, string>, maxValueLength: number): boolean {
  if (identityProblem(kind, id) !== undefined) return false;
  for (const [name, value] of attrs) {
    if (attributeValueProblem(name, value, maxValueLength) !== undefined) return false;
  }
  return true;
}
