import type { Job } from 'bullmq';
import type { VisitorStore } from '../coalesce/store.js';
import type { Config } from '../config.js';
import { DeadLetterAdmin } from '../dlq/admin.js';
import { countTrimmed } from '../dlq/trim-stats.js';
import { COMPLETED_INGEST_RETENTION_S, WORKERS } from '../jobs/catalog.js';
import type { PipelineQueues } from '../jobs/queues.js';
import type { WorkerPool } from '../jobs/workers.js';
import { jobLogger, type Logger } from '../logger.js';
import type { Budgets } from '../quota/budgets.js';
import { CallPacer } from '../quota/pacer.js';
import type { RedisClient } from '../redis/connection.js';
import { Flusher } from './flusher.js';

export interface FlushRoleDeps {
  config: Config;
  pool: WorkerPool;
  redis: RedisClient;
  store: VisitorStore;
  queues: PipelineQueues;
  budgets: Budgets;
  logger: Logger;
}

/**
 * Bulk-call slots a visitor held back for bulk waits, and how often a bulk file that is not
 * full may start: four slots (12 a minute at the documented 50 a minute). A claim with a file
 * per identity kind and a status poll each is four calls, so the budget sustains this pace
 * (see bulkPaceMs in src/quota/pacer.ts).
 */
export function bulkRetryMs(config: Pick<Config, 'BULK_CALLS_WINDOW_MS' | 'BULK_CALLS_PER_MINUTE'>): number {
  return Math.max(1000, Math.floor(config.BULK_CALLS_WINDOW_MS / Math.max(1, config.BULK_CALLS_PER_MINUTE)) * 4);
}

/**
 * The flusher role: every FLUSH_INTERVAL_MS a scheduler job claims the visitors whose window
 * ended and hands them to deliver-single or deliver-bulk; once a minute another trims dead
 * letters past their retention (and completed ingest jobs past theirs). Both run on the flush queue, one at a time per process.
 */
export async function startFlushRole(deps: FlushRoleDeps): Promise<void> {
  const { config, queues, store } = deps;
  const logger = deps.logger.child({ role: 'flusher' });
  const retryMs = bulkRetryMs(config);
  const flusher = new Flusher({
    store,
    queues,
    singleBudget: deps.budgets.single,
    bulkBudget: deps.budgets.bulk,
    bulkPacer: new CallPacer(deps.redis, config.REDIS_PREFIX, 'bulk', retryMs),
    bulkRetryMs: retryMs,
    windowMs: config.COALESCE_WINDOW_MS,
    mode: config.DELIVERY_MODE,
    batchSize: config.FLUSH_BATCH_SIZE,
    bulkBatchSize: config.FLUSH_BULK_BATCH_SIZE,
    bulkThreshold: config.BULK_THRESHOLD,
    maxBulkClaimsInFlight: config.BULK_MAX_CLAIMS_IN_FLIGHT,
    logger,
  });
  const dlqAdmin = new DeadLetterAdmin(queues, store, deps.logger.child({ role: 'dlq' }));
  const trimDeadLetters = async (log: Logger): Promise<number> => {
    // BullMQ applies a completed job's age only when a later job of its queue completes: on an
    // idle pipeline the last completed ingest jobs would outstay the 10 minutes the board
    // says, so the minute's trim removes those past COMPLETED_INGEST_RETENTION_S too.
    await queues.ingest.clean(COMPLETED_INGEST_RETENTION_S * 1000, 1000, 'completed');
    const removed = await dlqAdmin.trim(config.DEAD_LETTER_MAX_COUNT, config.DEAD_LETTER_MAX_AGE_MS);
    if (removed > 0) {
      await countTrimmed(deps.redis, config.REDIS_PREFIX, removed);
      log.warn(
        { removed, maxCount: config.DEAD_LETTER_MAX_COUNT, maxAgeMs: config.DEAD_LETTER_MAX_AGE_MS },
        'trimmed dead letters past their retention',
      );
    }
    return removed;
  };
  await queues.flush.upsertJobScheduler('flush-due', { every: config.FLUSH_INTERVAL_MS }, { name: 'flush' });
  await queues.flush.upsertJobScheduler(
    'trim-dead-letters',
    { every: WORKERS.trimDeadLettersEveryMs },
    { name: 'trim-dead-letters' },
  );
  // The Flusher logs with its own (role) logger; the trim job's lines name their job.
  const flushJob = (job: Job): Promise<unknown> =>
    job.name === 'trim-dead-letters' ? trimDeadLetters(jobLogger(logger, job)) : flusher.flushOnce();
  deps.pool.start('flush', flushJob, WORKERS.flushConcurrency);
}
