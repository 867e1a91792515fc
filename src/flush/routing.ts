import type { VisitorRef } from '../events/index.js';

export type DeliveryMode = 'auto' | 'single' | 'bulk';
export type Route = 'single' | 'bulk';

export interface RoutingInput {
  mode: DeliveryMode;
  /** Visitors claimed in this flush. */
  visitors: ReadonlyArray<{ ref: VisitorRef; known: boolean }>;
  /** In auto mode, a flush with at least this many visitors goes by bulk. */
  bulkThreshold: number;
  single: { limit: number; used: number; usedLastHour: number };
}

/**
 * Decides, per visitor of one flush, which API delivers it. Pure.
 *
 * - `single` / `bulk` modes: everything goes that way.
 * - `auto`:
 *   1. a flush of `bulkThreshold` visitors or more goes by bulk: one bulk call replaces
 *      hundreds of single calls;
 *   2. when the single budget cannot carry the current pace — what is left is below what
 *      the last hour's rate would use in the rest of a day (`usedLastHour × 24 > limit`), or
 *      less than this flush needs — everything goes by bulk instead of stalling;
 *   3. otherwise visitors Target may not know yet go by bulk and the rest by single calls.
 *      Rule for "may not know": the Single Profile Update API never creates a profile, and
 *      only bulk v2 does. An `mboxPC` was issued by Target, so its profile exists; an
 *      `mbox3rdPartyId` this pipeline has never delivered (no delivered stamp kept for it,
 *      see DELIVERED_RETENTION_MS) may be unknown to Target, so its first delivery goes by
 *      bulk. Once delivered, later updates may go by single calls.
 */
export function routeVisitors(input: RoutingInput): Route[] {
  const n = input.visitors.length;
  if (input.mode === 'single') return input.visitors.map(() => 'single');
  if (input.mode === 'bulk' || n >= input.bulkThreshold) return input.visitors.map(() => 'bulk');
  const { limit, used, usedLastHour } = input.single;
  const left = limit - used;
  const paceTooFast = usedLastHour * 24 > limit;
  if (paceTooFast || left < n) return input.visitors.map(() => 'bulk');
  return input.visitors.map(({ ref, known }) => (ref.kind === 'thirdPartyId' && !known ? 'bulk' : 'single'));
}
