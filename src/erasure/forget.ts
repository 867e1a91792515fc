import { createHash } from 'node:crypto';
import type { ForgottenValues, VisitorStore } from '../coalesce/store.js';
import type { DeadLetterAdmin } from '../dlq/admin.js';
import { withoutVisitors } from '../dlq/visitor-filter.js';
import { visitorKey, type VisitorRef } from '../events/index.js';
import type { Logger } from '../logger.js';

/**
 * The name a forgotten visitor goes by in logs, answers and the suppression list: the SHA-1
 * hex of its visitor key (`pc:<id>` / `3p:<id>`), as Redis' own `redis.sha1hex` computes it
 * in the scripts (src/coalesce/lua/includes/suppressed.lua). A lookup key, not a secret.
 */
export function visitorHash(visitor: VisitorRef): string {
  return createHash('sha1').update(visitorKey(visitor)).digest('hex');
}

export interface ForgetResult {
  /** {@link visitorHash} of the visitor: what the audit log line names. */
  visitorHash: string;
  /** Attributes removed from the visitor store, and whether a delivery held the visitor. */
  store: ForgottenValues;
  /** Dead letters that held only this visitor (removed), or it among others (rewritten without it). */
  deadLetters: { removed: number; edited: number };
  /** Until when events, imports and replays for this visitor are dropped (epoch ms, ISO). */
  suppressedUntil: string;
}

export interface ForgetDeps {
  store: VisitorStore;
  deadLetters: DeadLetterAdmin;
  logger: Logger;
  /** FORGET_SUPPRESS_MS, or what the request asked for. */
  suppressForMs: number;
}

/**
 * Erases a visitor from the pipeline (`target-ingest forget`, POST /admin/visitors/…/forget):
 * first the store, atomically, which also starts the suppression (so nothing merged, replayed
 * or acked from then on brings it back), then its dead letters. A delivery that had already
 * read the visitor's values when it was forgotten finishes (those values may reach Target);
 * its ack records nothing. Data already at Target is erased through Adobe's Privacy Service,
 * not here (docs/operations.md). The audit line names the hash, never the id.
 */
export async function forgetVisitor(deps: ForgetDeps, visitor: VisitorRef, now = Date.now()): Promise<ForgetResult> {
  const until = now + deps.suppressForMs;
  const store = await deps.store.forget(visitorKey(visitor), until, now);
  const gone = new Set([visitorKey(visitor)]);
  const hash = visitorHash(visitor);
  let deadLetters: ForgetResult['deadLetters'];
  try {
    deadLetters = await deps.deadLetters.rewrite((entry) => withoutVisitors(entry, gone));
  } catch (error) {
    // The store is erased and the suppression holds; the dead letters are not done yet.
    deps.logger.error(
      { audit: 'forget', visitorHash: hash, store, err: error },
      'visitor forgotten in the store, but its dead letters could not be rewritten: run forget again',
    );
    throw error;
  }
  const result: ForgetResult = {
    visitorHash: hash,
    store,
    deadLetters,
    suppressedUntil: new Date(until).toISOString(),
  };
  deps.logger.warn({ audit: 'forget', ...result }, 'visitor forgotten');
  return result;
}
