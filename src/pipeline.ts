import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { Flusher } from './coalesce/flusher.js';
import { createMapProcessor } from './coalesce/map-processor.js';
import { VisitorStore } from './coalesce/store.js';
import type { Config } from './config.js';
import { DeadLetters } from './dead-letters.js';
import type { CompiledMapping } from './events/index.js';
import type { Logger } from './logger.js';
import { JOB_OPTIONS, QUEUE_NAMES, bullPrefix, type DeadLetter, type DeliverJob, type IngestJob } from './queues.js';
import { connectRedis } from './redis.js';
import { TargetClient } from './target/client.js';
import { createSingleDeliveryProcessor } from './target/deliver-single.js';

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
}

/** A running set of roles on one Redis; `close()` finishes active jobs and disconnects. */
export interface Pipeline {
  redis: Redis;
  store: VisitorStore;
  queues: { ingest: Queue<IngestJob>; flush: Queue; deliverSingle: Queue<DeliverJob>; deadLetter: Queue<DeadLetter> };
  /** Workers of this process by queue name; listen to their `completed`/`failed` events for metrics. */
  workers: ReadonlyMap<string, Worker>;
  deadLetters: DeadLetters;
  close(): Promise<void>;
}

/** Wires queues, store, Target client and the workers of the requested roles. */
export async function startPipeline(options: PipelineOptions): Promise<Pipeline> {
  const { config, logger } = options;
  const redis = connectRedis(config.REDIS_URL);
  const prefix = bullPrefix(config.REDIS_PREFIX);
  const queues = {
    ingest: new Queue<IngestJob>(QUEUE_NAMES.ingest, { connection: redis, prefix, defaultJobOptions: JOB_OPTIONS.ingest }),
    flush: new Queue(QUEUE_NAMES.flush, { connection: redis, prefix, defaultJobOptions: { removeOnComplete: true, removeOnFail: 100 } }),
    deliverSingle: new Queue<DeliverJob>(QUEUE_NAMES.deliverSingle, { connection: redis, prefix, defaultJobOptions: JOB_OPTIONS.deliverSingle }),
    deadLetter: new Queue<DeadLetter>(QUEUE_NAMES.deadLetter, { connection: redis, prefix, defaultJobOptions: JOB_OPTIONS.deadLetter }),
  };
  const store = new VisitorStore(redis, {
    prefix: config.REDIS_PREFIX,
    coalesceWindowMs: config.COALESCE_WINDOW_MS,
    dedupeWindowMs: config.DEDUPE_WINDOW_MS,
    deliveredRetentionMs: config.DELIVERED_RETENTION_MS,
    leaseMs: config.CLAIM_LEASE_MS,
  });
  const deadLetters = new DeadLetters(queues.deadLetter);
  const workers: Worker[] = [];
  const closers: Array<() => Promise<void>> = [];
  const workerConnections: Redis[] = [];
  const workerOptions = (concurrency: number) => {
    const connection = connectRedis(config.REDIS_URL);
    workerConnections.push(connection);
    return { connection, prefix, concurrency };
  };

  if (options.roles.includes('map')) {
    const processor = createMapProcessor({ store, mapping: options.mapping, deadLetters, maxValueLength: config.MAX_VALUE_LENGTH, logger: logger.child({ role: 'map' }) });
    workers.push(new Worker<IngestJob>(QUEUE_NAMES.ingest, processor, workerOptions(config.WORKER_CONCURRENCY)));
  }
  if (options.roles.includes('flusher')) {
    const flusher = new Flusher({ store, deliverQueue: queues.deliverSingle, batchSize: config.FLUSH_BATCH_SIZE, logger: logger.child({ role: 'flusher' }) });
    await queues.flush.upsertJobScheduler('flush-due', { every: config.FLUSH_INTERVAL_MS }, { name: 'flush' });
    workers.push(new Worker(QUEUE_NAMES.flush, () => flusher.flushOnce(), workerOptions(1)));
  }
  if (options.roles.includes('deliver')) {
    const client = new TargetClient({
      baseUrl: options.targetBaseUrl,
      clientCode: config.clientCode,
      ...(config.TARGET_AUTH_TOKEN !== undefined ? { authToken: config.TARGET_AUTH_TOKEN } : {}),
      timeoutMs: config.TARGET_TIMEOUT_MS,
      connections: config.TARGET_CONNECTIONS,
    });
    closers.push(() => client.close());
    const processor = createSingleDeliveryProcessor({ store, client, deadLetters, logger: logger.child({ role: 'deliver-single' }) });
    workers.push(new Worker<DeliverJob>(QUEUE_NAMES.deliverSingle, processor, workerOptions(config.WORKER_CONCURRENCY)));
  }
  for (const worker of workers) {
    worker.on('error', (error) => logger.error({ err: error, queue: worker.name }, 'worker error'));
    worker.on('failed', (job, error) => logger.warn({ queue: worker.name, jobId: job?.id, attempt: job?.attemptsMade, code: (error as { code?: string }).code, msg: error.message }, 'job attempt failed'));
  }
  await Promise.all(workers.map((w) => w.waitUntilReady()));

  return {
    redis,
    store,
    queues,
    workers: new Map(workers.map((w) => [w.name, w])),
    deadLetters,
    async close() {
      await Promise.all(workers.map((w) => w.close()));
      await Promise.all(workerConnections.map((c) => c.quit()));
      await Promise.all(Object.values(queues).map((q) => q.close()));
      for (const close of closers) await close();
      await redis.quit();
    },
  };
}
