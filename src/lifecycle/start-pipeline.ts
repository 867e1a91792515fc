import { VisitorStore, storeSettingsFrom } from '../coalesce/store.js';
import { FlowCounter } from '../console/flow-counter.js';
import { watchFlow } from '../console/flow-watch.js';
import { targetBackoffStrategy, type RetryPolicy } from '../deliver/backoff.js';
import { credentialsHoldKey, readCredentialsHold } from '../deliver/credentials-hold.js';
import { openTargetAccess, startDeliverRole, type TargetAccess } from '../deliver/role.js';
import { readTrimmed } from '../dlq/trim-stats.js';
import { DeadLetters } from '../dlq/writer.js';
import { startFlushRole } from '../flush/role.js';
import { RETRY_JITTER } from '../jobs/catalog.js';
import { openQueues } from '../jobs/queues.js';
import { createWorkerPool } from '../jobs/workers.js';
import { startMapRole } from '../map/role.js';
import type { Pipeline, PipelineOptions } from '../pipeline.js';
import { createBudgets } from '../quota/budgets.js';
import { connectRedis, logRedisErrors } from '../redis/connection.js';

/** Wires queues, store and budgets, then starts the requested roles (src/map, src/flush, src/deliver). */
export async function startPipeline(options: PipelineOptions): Promise<Pipeline> {
  const { config, logger, roles } = options;
  const redis = connectRedis(config);
  // Every connection and queue has an error listener that logs through the redacting
  // logger: without one, ioredis and BullMQ print the error (the AUTH password included).
  const redisErrors = logRedisErrors(redis, logger, 'pipeline');
  const retry: RetryPolicy = {
    baseDelayMs: config.RETRY_BASE_MS,
    maxDelayMs: config.RETRY_MAX_MS,
    maxRetryAfterMs: config.RETRY_AFTER_MAX_MS,
    jitter: RETRY_JITTER,
    maxAttempts: config.DELIVERY_MAX_ATTEMPTS,
    maxAgeMs: config.DELIVERY_MAX_AGE_MS,
  };
  const budgets = createBudgets(redis, config.REDIS_PREFIX, {
    singlePerDay: config.SINGLE_DAILY_BUDGET,
    bulkPerMinute: config.BULK_CALLS_PER_MINUTE,
    bulkWindowMs: config.BULK_CALLS_WINDOW_MS,
    marginMs: config.TARGET_TIMEOUT_MS,
  });
  let access: TargetAccess | undefined;
  if (roles.includes('deliver')) {
    access = await openTargetAccess({
      config,
      redis,
      budgets,
      logger,
      ...(options.adobeUrls !== undefined ? { adobeUrls: options.adobeUrls } : {}),
    }).catch(async (error: unknown) => {
      await redis.quit();
      throw error;
    });
  }
  const queues = openQueues(
    redis,
    {
      redisPrefix: config.REDIS_PREFIX,
      deliveryAttempts: retry.maxAttempts,
      keepCompleted: config.KEEP_COMPLETED_JOBS,
    },
    (error) => redisErrors.report(error),
  );
  const store = new VisitorStore(redis, storeSettingsFrom(config));
  const deadLetters = new DeadLetters(queues.deadLetter, undefined, {
    suppressed: (vks) => store.suppressedAmong(vks),
    redis,
  });
  const flow = new FlowCounter(redis, config.REDIS_PREFIX, logger.child({ role: 'console-flow' }));
  const onTargetCall: PipelineOptions['onTargetCall'] = (endpoint, ms, outcome) => {
    if (endpoint === 'status') flow.add('status_polls', 1);
    options.onTargetCall?.(endpoint, ms, outcome);
  };
  const pool = createWorkerPool({
    connect: () => connectRedis(config),
    redisPrefix: config.REDIS_PREFIX,
    lockMs: config.WORKER_LOCK_MS,
    backoffStrategy: targetBackoffStrategy(retry),
    logger,
    fallbackErrors: redisErrors,
  });
  const roleDeps = { config, pool, redis, store, queues, budgets, deadLetters, logger };
  if (roles.includes('map')) startMapRole({ ...roleDeps, mapping: options.mapping });
  if (roles.includes('flusher')) await startFlushRole(roleDeps);
  const deliver =
    access === undefined
      ? undefined
      : startDeliverRole({
          ...roleDeps,
          retry,
          access,
          targetBaseUrl: options.targetBaseUrl,
          onTargetCall,
        });
  await pool.ready();
  const workers = new Map(pool.workers.map((w) => [w.name, w]));
  const stopWatchingFlow = watchFlow(flow, workers, deadLetters);
  flow.start();

  return {
    redis,
    store,
    queues,
    budgets,
    workers,
    deadLetters,
    flow,
    credentialsHold: () => readCredentialsHold(redis, credentialsHoldKey(config.REDIS_PREFIX)),
    deadLettersTrimmed: () => readTrimmed(redis, config.REDIS_PREFIX),
    ...(access?.tokenSource !== undefined ? { tokenSource: access.tokenSource } : {}),
    async close() {
      const handedBack = await pool.close(config.SHUTDOWN_TIMEOUT_MS, deliver?.abandonCalls);
      // After the workers: what their last jobs counted is written too.
      stopWatchingFlow();
      await flow.close();
      await Promise.all(Object.values(queues).map((q) => q.close()));
      for (const close of deliver?.closers ?? []) await close(handedBack);
      await redis.quit();
    },
  };
}
