import { createHash } from 'node:crypto';
import type { ForgottenValues, VisitorStore } from '../coalesce/store.js';
import type { DeadLetterAdmin } from '../dlq/admin.js';
import { visitorKey, type VisitorRef } from '../events/index.js';
import type { DeadLetter } from '../jobs/catalog.js';
import type { Logger } from '../logger.js';

/**
 * The name a forgotten visitor goes by in logs, answers and the suppression list: the SHA-1
 * hex of its visitor key (`pc:<id>` / `3p:<id>`), as Redis' own `redis.sha1hex` computes it
 * in the scripts (src/coalesce/lua/includes/suppressed.lua). A lookup key, not a secret.
 */
export function visitorHash(visitor: VisitorRef): string {
  return createHash('sha1').update(visitorKey(visitor)).digest('hex');
}

/** Does a raw event (as a map-stage dead letter keeps it) name this visitor? */
function rawEventIsFor(event: unknown, visitor: VisitorRef): boolean {
  if (typeof event !== 'object' || event === null) return false;
  const raw = (event as { visitor?: unknown }).visitor;
  if (typeof raw !== 'object' || raw === null) return false;
  const ids = raw as { mboxPC?: unknown; mbox3rdPartyId?: unknown };
  return visitor.kind === 'pcId' ? ids.mboxPC === visitor.id : ids.mbox3rdPartyId === visitor.id;
}

/**
 * A dead letter without anything of `visitor`: `undefined` when it holds none of it, `null`
 * when nothing else is left in it (it goes), else the entry without the visitor's values or
 * events. Pure.
 */
export function withoutVisitor(entry: DeadLetter, visitor: VisitorRef): DeadLetter | null | undefined {
  const vk = visitorKey(visitor);
  const visitors = entry.visitors?.filter((v) => v.vk !== vk);
  const events = entry.events?.filter((e) => !rawEventIsFor(e, visitor));
  const changed = visitors?.length !== entry.visitors?.length || events?.length !== entry.events?.length;
  if (!changed) return undefined;
  if ((visitors?.length ?? 0) + (events?.length ?? 0) === 0) return null;
  return {
    ...entry,
    ...(visitors !== undefined ? { visitors } : {}),
    ...(events !== undefined ? { events } : {}),
  };
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
  const deadLetters = await deps.deadLetters.rewrite((entry) => withoutVisitor(entry, visitor));
  const result: ForgetResult = {
    visitorHash: visitorHash(visitor),
    store,
    deadLetters,
    suppressedUntil: new Date(until).toISOString(),
  };
  deps.logger.warn({ audit: 'forget', ...result }, 'visitor forgotten');
  return result;
}
