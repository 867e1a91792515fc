/**
 * Visitors of a bulk claim with a copy at Target that delivery can no longer follow: a
 * submit whose answer was lost (`bulkSubmitMayLand`, src/errors.ts), or a batch whose rows
 * were submitted again because Target called it `stuck` or its `complete` was not read
 * within BULK_STATUS_GIVE_UP_MS. Adobe documents nothing about such a batch, only that
 * updates "might take as long as 24 hours", so it may apply its older values after newer
 * ones (P4, docs/invariants.md). Once a visitor's row of a tracked batch is complete, its
 * landing is read back strictly (LandingAuditJob.afterLostAnswer, every delivered attribute)
 * twice: after LANDING_AUDIT_DELAY_MS, and once Adobe's 24 hours since the last untracked
 * copy left have passed, with an hour's margin.
 */

/**
 * Adobe: bulk updates "generally occur in under one hour, but might take as long as 24
 * hours"; plus an hour, as BULK_STATUS_GIVE_UP_MS's default: the copy's time is taken before
 * its POST, and Target's clock starts when it has the file.
 */
export const BULK_LATEST_LANDING_MS = 25 * 3600_000;

/** The untracked copies of a claim, as its deliver and bulk-status jobs carry them. */
export interface UntrackedCopies {
  answerLost?: string[];
  /** When the last untracked copy left for Target (epoch ms). */
  answerLostAt?: number;
}

/** `copies` with these visitors' copies, sent at `sentAt`, added. Pure. */
export function addUntracked(copies: UntrackedCopies, vks: readonly string[], sentAt: number): UntrackedCopies {
  if (vks.length === 0) return untrackedOf(copies);
  return {
    answerLost: [...new Set([...(copies.answerLost ?? []), ...vks])],
    answerLostAt: Math.max(copies.answerLostAt ?? 0, sentAt),
  };
}

/** Only the untracked-copy fields of job data (none when there are none). Pure. */
export function untrackedOf(data: UntrackedCopies): UntrackedCopies {
  const visitors = data.answerLost ?? [];
  return visitors.length === 0 ? {} : { answerLost: visitors, answerLostAt: data.answerLostAt ?? 0 };
}

/**
 * The delays of the two read-backs of a visitor whose tracked row completed `now`: after
 * `auditDelayMs` (the usual landing check), and BULK_LATEST_LANDING_MS after the last
 * untracked copy left, when that is later. Pure.
 */
export function recheckDelays(answerLostAt: number, now: number, auditDelayMs: number): number[] {
  const bound = answerLostAt + BULK_LATEST_LANDING_MS - now;
  return bound > auditDelayMs ? [auditDelayMs, bound] : [auditDelayMs];
}
