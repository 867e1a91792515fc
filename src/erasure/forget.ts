import { createHash } from 'node:crypto';
import type { ForgottenValues, VisitorStore } from '../coalesce/store.js';
import type { Queue } from 'bullmq';
import type { DeadLetterAdmin } from '../dlq/admin.js';
import type { IngestJob, LandingQueueJob } from '../jobs/catalog.js';
import type { RedisClient } from '../redis/connection.js';
import { removeAuditJobs } from './audit-jobs.js';
import { stripFailedIngestJobs } from './ingest-jobs.js';
import { stripFailedDeliveryJobs, type DeliveryQueues } from './delivery-jobs.js';
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
  /** Landing-audit checks scheduled for this visitor (they name it), removed. */
  landingAudits: { removed: number };
  /**
   * Failed ingest jobs (kept until removed) that held its events: those that held only its
   * events (removed), or its among others (rewritten without them).
   */
  ingestJobs: { removed: number; edited: number };
  /** Failed delivery and bulk-status jobs (kept for days) that listed its key: removed when it was the only one, else rewritten without it. */
  deliveryJobs: { removed: number; edited: number };
  /** Until when events, imports and replays for this visitor are dropped (epoch ms, ISO). */
  suppressedUntil: string;
}

export interface ForgetDeps {
  store: VisitorStore;
  deadLetters: DeadLetterAdmin;
  /** The landing-audit queue, whose delayed and failed jobs name the visitor (src/audit/), and a connection to read them. */
  landingAudits: { queue: Queue<LandingQueueJob>; redis: RedisClient };
  /** The ingest queue, whose failed jobs keep raw events. */
  ingest: Queue<IngestJob>;
  /** The delivery queues, whose failed jobs list visitor keys. */
  delivery: DeliveryQueues;
  logger: Logger;
  /** FORGET_SUPPRESS_MS, or what the request asked for. */
  suppressForMs: number;
}

/**
 * Erases a visitor from the pipeline (`target-ingest forget`, POST /admin/visitors/…/forget):
 * first the store, atomically, which also starts the suppression (so nothing merged, replayed
 * or acked from then on brings it back), then its dead letters, its landing-audit jobs and
 * its events in failed ingest jobs. A
 * delivery that had already read the visitor's values when it was forgotten finishes (those
 * values may reach Target); its ack records nothing. Data already at Target is erased through Adobe's Privacy Service,
 * not here (docs/operations.md). The audit line names the hash, never the id.
 */
export async function forgetVisitor(deps: ForgetDeps, visitor: VisitorRef, now = Date.now()): Promise<ForgetResult> {
  const until = now + deps.suppressForMs;
  const store = await deps.store.forget(visitorKey(visitor), until, now);
  const gone = new Set([visitorKey(visitor)]);
  const hash = visitorHash(visitor);
  const redis = deps.landingAudits.redis;
  // Each step runs whatever the others did: one that fails (Redis, or an entry other forgets
  // kept changing) must not leave the rest of the visitor's data in place until the rerun.
  const failures: unknown[] = [];
  const step = async <T>(run: () => Promise<T>, none: T): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      failures.push(error);
      return none;
    }
  };
  const deadLetters = await step(() => deps.deadLetters.rewrite((entry) => withoutVisitors(entry, gone), redis), {
    removed: 0,
    edited: 0,
  });
  const landingAudits = {
    removed: await step(() => removeAuditJobs(deps.landingAudits.queue, redis, visitorKey(visitor)), 0),
  };
  const ingestJobs = await step(() => stripFailedIngestJobs(deps.ingest, redis, gone), { removed: 0, edited: 0 });
  const deliveryJobs = await step(() => stripFailedDeliveryJobs(deps.delivery, redis, gone), { removed: 0, edited: 0 });
  const result: ForgetResult = {
    visitorHash: hash,
    store,
    deadLetters,
    landingAudits,
    ingestJobs,
    deliveryJobs,
    suppressedUntil: new Date(until).toISOString(),
  };
  if (failures.length > 0) {
    // The store is erased and the suppression holds; part of the rest is not done yet.
    deps.logger.error(
      { audit: 'forget', ...result, err: failures[0] },
      'visitor forgotten in the store, but its dead letters or failed jobs could not all be cleared: run forget again',
    );
    throw failures[0];
  }
  deps.logger.warn({ audit: 'forget', ...result }, 'visitor forgotten');
  return result;
}
