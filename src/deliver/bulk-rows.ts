import type { VisitorSnapshot } from '../coalesce/in-flight.js';
import { parseVisitorKey } from '../events/index.js';

/**
 * What a bulk row may carry, and what must go another way. Pure. docs/target.md has the
 * reasoning; in short:
 * - Adobe documents the form layer of a bulk file (the whole file URL-encoded after
 *   `batch=`) and nothing else: not CSV quoting, not whether a cell is percent-decoded once
 *   more. A value (or id) holding `%`, `,`, `"`, CR or LF reads differently under the two
 *   readings, so it never goes into a bulk file: such values reach Target through the
 *   Single Profile Update API, whose encoding is documented, once the profile exists (P11).
 * - Consecutive v2 batches for the same visitor may override each other's attributes, so a
 *   row carries every value delivered before (still safe to carry) besides what is new.
 */

/** Characters with no documented bulk encoding. */
const NO_BULK_ENCODING = /[%,"\r\n]/;

/** Can this text sit in a bulk cell so that it reads the same under every documented reading? */
export function bulkSafe(text: string): boolean {
  return !NO_BULK_ENCODING.test(text);
}

/** Where the values of pcId visitors go when delivery is by bulk (BULK_PCID_ROUTE). */
export type PcIdRoute = 'v1' | 'v2' | 'single';

/** How one claimed visitor's values are delivered by a bulk claim. */
export type BulkPlan =
  /** A row; `rest` says whether some values must follow by single update once it completes. */
  | { kind: 'row'; values: Map<string, string>; rest: boolean }
  /** No row: everything goes by single update now (the profile exists). */
  | { kind: 'single' }
  /** No row can carry it and the profile may not exist: no documented way to deliver it. */
  | { kind: 'not-encodable' };

/**
 * The in-flight values a bulk row carries for this visitor: those without a character that
 * has no documented bulk encoding, and none at all when the id itself has one. The bulk-status
 * ack records exactly these, so the others stay in flight for a single update.
 */
export function bulkShare(snapshot: VisitorSnapshot): VisitorSnapshot {
  const idSafe = bulkSafe(parseVisitorKey(snapshot.vk).id);
  const attributes = new Map([...snapshot.attributes].filter(([, u]) => idSafe && bulkSafe(u.value)));
  return attributes.size === snapshot.attributes.size ? snapshot : { ...snapshot, attributes };
}

/**
 * Plans one visitor of a bulk claim. A row holds the visitor's delivered values that are
 * safe in a cell, overlaid with its safe in-flight values. `known`: Target has the profile
 * (an mboxPC was issued by Target; an mbox3rdPartyId this pipeline delivered within the
 * profile lifetime).
 */
export function planBulkVisitor(snapshot: VisitorSnapshot, known: boolean, pcIdRoute: PcIdRoute): BulkPlan {
  const ref = parseVisitorKey(snapshot.vk);
  if (ref.kind === 'pcId' && pcIdRoute === 'single') return { kind: 'single' };
  const share = bulkShare(snapshot).attributes;
  const rest = share.size < snapshot.attributes.size;
  const exists = known || ref.kind === 'pcId';
  if (share.size === 0) return exists ? { kind: 'single' } : { kind: 'not-encodable' };
  // A delivered value no cell can carry cannot ride along in the row, and the row could
  // override it (it may have replaced a value an earlier v2 row set): a visitor Target has
  // goes by single updates whole. A profile Target dropped lost it anyway; the row recreates
  // the profile with the values a cell can carry.
  const delivered = [...(snapshot.delivered ?? [])];
  if (exists && delivered.some(([, value]) => !bulkSafe(value))) return { kind: 'single' };
  const values = new Map<string, string>();
  for (const [name, value] of delivered) if (bulkSafe(value)) values.set(name, value);
  for (const [name, update] of share) values.set(name, update.value);
  return { kind: 'row', values, rest };
}
