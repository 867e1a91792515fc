import { Queue, Worker, type Job } from 'bullmq';
import { Flusher } from './flush/flusher.js';
import { createMapProcessor } from './map/processor.js';
import { VisitorStore, storeSettingsFrom } from './coalesce/store.js';
import type { Config } from './config.js';
import { DeadLetters } from './dlq/writer.js';
import { DeadLetterAdmin } from './dlq/admin.js';
import type { CompiledMapping } from './events/index.js';
import { jobLogger, type Logger } from './logger.js';
import {
  JOB_OPTIONS,
  QUEUE_NAMES,
  bullPrefix,
  type BulkStatusJob,
  type DeadLetter,
  type DeliverJob,
  type IngestJob,
} from './jobs/catalog.js';
import { connectRedis, logRedisErrors, type RedisClient, type RedisErrorLog } from './redis/connection.js';
import { TargetClient, type TargetCallObserver } from './target/client.js';
import { targetBackoffStrategy, type RetryPolicy } from './deliver/backoff.js';
import { createBudgets, type Budgets } from './quota/budgets.js';
import { createTargetDispatcher } from './target/dispatcher.js';
import { startProfileTokenSource } from './target/profile-token.js';
import type { RefreshableTokenSource } from './target/token-source.js';
import { hashTag } from './redis/keys.js';
import { CallPacer } from './quota/pacer.js';
import {
  CredentialsHold,
  credentialsHoldKey,
  probeCredentials,
  readCredentialsHold,
  type HoldState,
} from './deliver/credentials-hold.js';
import { createBulkStatusProcessor } from './deliver/bulk-status.js';
import { createBulkDeliveryProcessor } from './deliver/deliver-bulk.js';
import { createSingleDeliveryProcessor } from './deliver/deliver-single.js';

/** The roles a process can run; `npm start` runs them all. `intake` serves POST /v1/events. */
export type Role = 'intake' | 'map' | 'flusher' | 'deliver';
export const ALL_ROLES: readonly Role[] = ['intake', 'map', 'flusher', 'deliver'];

export interface PipelineOptions {
  config: Config;
  mapping: CompiledMapping;
  logger: Logger;
  roles: readonly Role[];
  /** Target base URL; overrides config (the built-in simulator's URL). */
  targetBaseUrl: string;
  /** Told about every call to Target (metrics). */
  onTargetCall?: TargetCallObserver;
  /** IMS token endpoint and Admin API base URL instead of config's (the built-in simulator's). */
  adobeUrls?: { ims: string; admin: string };
}

/** How long one process holds the right to regenerate the profile token (TARGET_TOKEN_REGENERATE): others read its new token meanwhile. */
const REGENERATE_LOCK_MS = 10 * 60_000;

/** A running set of roles on one Redis; `close()` finishes active jobs and disconnects. */
export interface Pipeline {
  redis: RedisClient;
  store: VisitorStore;
  queues: {
    ingest: Queue<IngestJob>;
    flush: Queue;
    deliverSingle: Queue<DeliverJob>;
    deliverBulk: Queue<DeliverJob>;
    bulkStatus: Queue<BulkStatusJob>;
    deadLetter: Queue<DeadLetter>;
  };
  budgets: Budgets;
  /** Workers of this process by queue name; listen to their `completed`/`failed` events for metrics. */
  workers: ReadonlyMap<string, Worker>;
  deadLetters: DeadLetters;
  /** The credentials hold, if one is open (Target refuses our token): for metrics and the console. */
  credentialsHold(): Promise<HoldState | undefined>;
  /**
   * The profile token when it can change (TARGET_AUTH_TOKEN_FILE, or the Admin API with
   * TARGET_IMS_CLIENT_ID): `refresh()` reads it again now. Only with the deliver role.
   */
  tokenSource?: RefreshableTokenSource;
  close(): Promise<void>;
}

/** Wires queues, store, Target client and the workers of the requested roles. */
export async function startPipeline(options: PipelineOptions): Promise<Pipeline> {
  const { config, logger } = options;
  const redis = connectRedis(config);
  // Every connection and queue has an error listener that logs through the redacting
  // logger: without one, ioredis and BullMQ print the error (the AUTH password included).
  const redisErrors = logRedisErrors(redis, logger, 'pipeline');
  const prefix = bullPrefix(config.REDIS_PREFIX);
  const retry: RetryPolicy = {
    baseDelayMs: config.RETRY_BASE_MS,
    maxDelayMs: config.RETRY_MAX_MS,
    jitter: 0.5,
    maxAttempts: config.DELIVERY_MAX_ATTEMPTS,
    maxAgeMs: config.DELIVERY_MAX_AGE_MS,
  };
  const deliverOptions = { ...JOB_OPTIONS.deliver, attempts: retry.maxAttempts };
  const budgets = createBudgets(redis, config.REDIS_PREFIX, {
    singlePerDay: config.SINGLE_DAILY_BUDGET,
    bulkPerMinute: config.BULK_CALLS_PER_MINUTE,
    bulkWindowMs: config.BULK_CALLS_WINDOW_MS,
    marginMs: config.TARGET_TIMEOUT_MS,
  });
  // Before any queue or worker exists, so a token that cannot be had at start leaves only
  // this connection to close. Admin API calls take from the bulk budget (Adobe counts them).
  const delivers = options.roles.includes('deliver');
  const dispatcher = delivers
    ? createTargetDispatcher({ connections: config.TARGET_CONNECTIONS, timeoutMs: config.TARGET_TIMEOUT_MS, logger })
    : undefined;
  const tokenSource =
    dispatcher === undefined
      ? undefined
      : await startProfileTokenSource(config, {
          logger,
          dispatcher,
          reserve: (n) => budgets.bulk.reserve(n),
          claimRegenerate: async () =>
            (await redis.set(
              `${hashTag(config.REDIS_PREFIX)}:admin-token:regenerate`,
              String(process.pid),
              'PX',
              REGENERATE_LOCK_MS,
              'NX',
            )) === 'OK',
          ...(options.adobeUrls !== undefined ? { adobeUrls: options.adobeUrls } : {}),
        }).catch(async (error: unknown) => {
          await dispatcher.close();
          await redis.quit();
          throw error;
        });
  const queues = {
    ingest: new Queue<IngestJob>(QUEUE_NAMES.ingest, {
      connection: redis,
      prefix,
      defaultJobOptions: JOB_OPTIONS.ingest,
    }),
    flush: new Queue(QUEUE_NAMES.flush, {
      connection: redis,
      prefix,
      defaultJobOptions: { removeOnComplete: true, removeOnFail: 100 },
    }),
    deliverSingle: new Queue<DeliverJob>(QUEUE_NAMES.deliverSingle, {
      connection: redis,
      prefix,
      defaultJobOptions: deliverOptions,
    }),
    deliverBulk: new Queue<DeliverJob>(QUEUE_NAMES.deliverBulk, {
      connection: redis,
      prefix,
      defaultJobOptions: deliverOptions,
    }),
    bulkStatus: new Queue<BulkStatusJob>(QUEUE_NAMES.bulkStatus, {
      connection: redis,
      prefix,
      defaultJobOptions: JOB_OPTIONS.bulkStatus,
    }),
    deadLetter: new Queue<DeadLetter>(QUEUE_NAMES.deadLetter, {
      connection: redis,
      prefix,
      defaultJobOptions: JOB_OPTIONS.deadLetter,
    }),
  };
  for (const queue of Object.values(queues)) queue.on('error', (error) => redisErrors.report(error));
  const store = new VisitorStore(redis, storeSettingsFrom(config));
  const deadLetters = new DeadLetters(queues.deadLetter);
  const workers: Worker[] = [];
  const closers: Array<() => Promise<void>> = [];
  const workerConnections: RedisClient[] = [];
  const workerErrors = new Map<string, RedisErrorLog>();
  const workerOptions = (queue: string, concurrency: number) => {
    const connection = connectRedis(config);
    workerConnections.push(connection);
    workerErrors.set(queue, logRedisErrors(connection, logger.child({ queue }), `worker:${queue}`));
    // A job whose process died returns within about 2 × WORKER_LOCK_MS. Every job is safe to
    // run again (the merge knows its batches, a delivery re-reads its claim), while one failed
    // for stalling would strand an ingest batch: so allow many stalls, not BullMQ's one.
    return {
      connection,
      prefix,
      concurrency,
      settings: { backoffStrategy: targetBackoffStrategy(retry) },
      lockDuration: config.WORKER_LOCK_MS,
      stalledInterval: config.WORKER_LOCK_MS,
      maxStalledCount: 50,
    };
  };

  if (options.roles.includes('map')) {
    const mapLogger = logger.child({ role: 'map' });
    const processor = createMapProcessor({
      store,
      mapping: options.mapping,
      deadLetters,
      maxValueLength: config.MAX_VALUE_LENGTH,
      logger: mapLogger,
    });
    const mapWorker = new Worker<IngestJob>(
      QUEUE_NAMES.ingest,
      processor,
      workerOptions(QUEUE_NAMES.ingest, config.WORKER_CONCURRENCY),
    );
    // A batch whose retries are spent (Redis kept failing) becomes a dead letter with its
    // events, so "accepted" always ends in delivered or dead-lettered (P1).
    mapWorker.on('failed', (job, error) => {
      if (job === undefined || job.attemptsMade < (job.opts.attempts ?? 1)) return;
      const at = Date.now();
      void deadLetters
        .add(
          {
            stage: 'map',
            source: job.data.source,
            events: job.data.events,
            error: {
              class: error.name,
              code: (error as { code?: string }).code ?? 'MAP_FAILED',
              message: error.message,
            },
            attempts: job.attemptsMade,
            firstAttemptAt: job.timestamp,
            lastAttemptAt: at,
          },
          `map-failed-${job.id ?? at}`,
        )
        .catch((e: unknown) =>
          jobLogger(mapLogger, job).error(
            { err: e },
            'could not dead-letter a failed ingest batch; it stays in the failed set',
          ),
        );
    });
    workers.push(mapWorker);
  }
  if (options.roles.includes('flusher')) {
    // Four bulk-call slots: a visitor held back for bulk waits that long, and bulk files
    // that are not full start at most that often (12 a minute at the documented 50 a
    // minute: a claim with a file per identity kind and a status poll each is four calls,
    // so the budget sustains this pace; see bulkPaceMs).
    const flushLogger = logger.child({ role: 'flusher' });
    const bulkRetryMs = Math.max(
      1000,
      Math.floor(config.BULK_CALLS_WINDOW_MS / Math.max(1, config.BULK_CALLS_PER_MINUTE)) * 4,
    );
    const flusher = new Flusher({
      store,
      queues,
      singleBudget: budgets.single,
      bulkBudget: budgets.bulk,
      bulkPacer: new CallPacer(redis, config.REDIS_PREFIX, 'bulk', bulkRetryMs),
      bulkRetryMs,
      mode: config.DELIVERY_MODE,
      batchSize: config.FLUSH_BATCH_SIZE,
      bulkBatchSize: config.FLUSH_BULK_BATCH_SIZE,
      bulkThreshold: config.BULK_THRESHOLD,
      maxBulkClaimsInFlight: config.BULK_MAX_CLAIMS_IN_FLIGHT,
      logger: flushLogger,
    });
    const dlqAdmin = new DeadLetterAdmin(queues, store, logger.child({ role: 'dlq' }));
    const trimDeadLetters = async (log: Logger): Promise<number> => {
      const removed = await dlqAdmin.trim(config.DEAD_LETTER_MAX_COUNT, config.DEAD_LETTER_MAX_AGE_MS);
      if (removed > 0) {
        await redis.hincrby(store.keys.stats, 'dead_letters_trimmed', removed);
        log.warn(
          { removed, maxCount: config.DEAD_LETTER_MAX_COUNT, maxAgeMs: config.DEAD_LETTER_MAX_AGE_MS },
          'trimmed dead letters past their retention',
        );
      }
      return removed;
    };
    await queues.flush.upsertJobScheduler('flush-due', { every: config.FLUSH_INTERVAL_MS }, { name: 'flush' });
    await queues.flush.upsertJobScheduler('trim-dead-letters', { every: 60_000 }, { name: 'trim-dead-letters' });
    // The Flusher logs with its own (role) logger; the trim job's lines name their job.
    const flushJob = (job: Job): Promise<unknown> =>
      job.name === 'trim-dead-letters' ? trimDeadLetters(jobLogger(flushLogger, job)) : flusher.flushOnce();
    workers.push(new Worker(QUEUE_NAMES.flush, flushJob, workerOptions(QUEUE_NAMES.flush, 1)));
  }
  if (dispatcher !== undefined) {
    const client = new TargetClient({
      baseUrl: options.targetBaseUrl,
      clientCode: config.clientCode,
      ...(config.TARGET_AUTH_TOKEN !== undefined ? { authToken: config.TARGET_AUTH_TOKEN } : {}),
      ...(tokenSource !== undefined ? { token: tokenSource } : {}),
      dispatcher,
      timeoutMs: config.TARGET_TIMEOUT_MS,
      connections: config.TARGET_CONNECTIONS,
      ...(options.onTargetCall !== undefined ? { onCall: options.onTargetCall } : {}),
    });
    // The token source first: the Admin API shares the dispatcher the client closes.
    if (tokenSource !== undefined) closers.push(() => tokenSource.close());
    closers.push(() => client.close());
    const hold = new CredentialsHold(redis, config.REDIS_PREFIX, {
      probe: () => probeCredentials(client),
      // Re-read the token file (or ask the Admin API) before each probe round.
      ...(tokenSource !== undefined
        ? { refreshToken: () => tokenSource.refresh(), currentToken: () => tokenSource.current() }
        : {}),
      logger: logger.child({ role: 'credentials' }),
    });
    hold.start();
    closers.push(() => hold.close());
    const deps = {
      store,
      client,
      deadLetters,
      budgets,
      retry,
      queues,
      mode: config.DELIVERY_MODE,
      hold,
      statusQueue: queues.bulkStatus,
      statusFirstPollMs: config.BULK_STATUS_POLL_MS,
      pcIdRoute: config.BULK_PCID_ROUTE,
    };
    const single = createSingleDeliveryProcessor({ ...deps, logger: logger.child({ role: 'deliver-single' }) });
    const bulk = createBulkDeliveryProcessor({ ...deps, logger: logger.child({ role: 'deliver-bulk' }) });
    const status = createBulkStatusProcessor(
      { ...deps, logger: logger.child({ role: 'bulk-status' }) },
      {
        pollBaseMs: config.BULK_STATUS_POLL_MS,
        maxPollDelayMs: config.BULK_STATUS_MAX_POLL_MS,
        maxResubmits: config.BULK_MAX_RESUBMITS,
        giveUpAfterMs: config.BULK_STATUS_GIVE_UP_MS,
      },
    );
    workers.push(
      new Worker<DeliverJob>(
        QUEUE_NAMES.deliverSingle,
        single,
        workerOptions(QUEUE_NAMES.deliverSingle, config.WORKER_CONCURRENCY),
      ),
    );
    workers.push(new Worker<DeliverJob>(QUEUE_NAMES.deliverBulk, bulk, workerOptions(QUEUE_NAMES.deliverBulk, 2)));
    workers.push(new Worker<BulkStatusJob>(QUEUE_NAMES.bulkStatus, status, workerOptions(QUEUE_NAMES.bulkStatus, 4)));
  }
  for (const worker of workers) {
    // Errors of the worker's connections come here as well: one log per error, repeats quieted.
    const errors = workerErrors.get(worker.name) ?? redisErrors;
    worker.on('error', (error) => errors.report(error, 'worker error'));
    worker.on('failed', (job, error) =>
      logger.warn(
        {
          queue: worker.name,
          jobId: job?.id,
          attempt: job?.attemptsMade,
          code: (error as { code?: string }).code,
          error: error.message,
        },
        'job attempt failed',
      ),
    );
  }
  await Promise.all(workers.map((w) => w.waitUntilReady()));

  return {
    redis,
    store,
    queues,
    budgets,
    workers: new Map(workers.map((w) => [w.name, w])),
    deadLetters,
    credentialsHold: () => readCredentialsHold(redis, credentialsHoldKey(config.REDIS_PREFIX)),
    ...(tokenSource !== undefined ? { tokenSource } : {}),
    async close() {
      // Active jobs get SHUTDOWN_TIMEOUT_MS to finish; after that the workers stop waiting and
      // those jobs' locks lapse, so another worker redoes them (every step is idempotent).
      const graceful = Promise.all(workers.map((w) => w.close()));
      const timedOut = await Promise.race([
        graceful.then(() => false),
        new Promise<boolean>((r) => setTimeout(() => r(true), config.SHUTDOWN_TIMEOUT_MS).unref()),
      ]);
      if (timedOut) {
        logger.warn({ timeoutMs: config.SHUTDOWN_TIMEOUT_MS }, 'active jobs did not finish in time: handing them back');
        await Promise.all(workers.map((w) => w.close(true)));
      }
      await Promise.all(workerConnections.map((c) => c.quit()));
      await Promise.all(Object.values(queues).map((q) => q.close()));
      for (const close of closers) await close();
      await redis.quit();
    },
  };
}
