import { Worker, type Job, type Processor } from 'bullmq';
import type { Logger } from '../logger.js';
import { logRedisErrors, type RedisClient, type RedisErrorLog } from '../redis/connection.js';
import { QUEUE_NAMES, WORKERS, bullPrefix, type QueueKey } from './catalog.js';
import { clearedJobData } from './completed-data.js';

/** BullMQ's error code for a job whose key is gone (removed by its queue's count or age). */
const JOB_NOT_EXIST = -1;

/**
 * After SHUTDOWN_TIMEOUT_MS and the calls to Target dropped: how long the jobs get to record
 * that and go back to their queue before their connections are dropped too.
 */
const HAND_BACK_GRACE_MS = 2000;

export interface WorkerPoolOptions {
  /** Opens a Redis connection; each worker gets its own (BullMQ blocks on it). */
  connect: () => RedisClient;
  /** The pipeline's REDIS_PREFIX. */
  redisPrefix: string;
  /** WORKER_LOCK_MS: a job's lock, renewed while it runs; also the stalled-job check interval. */
  lockMs: number;
  /** BullMQ's `backoffStrategy` for custom backoff types (the `target` backoff of deliveries). */
  backoffStrategy: (attemptsMade: number, type?: string, error?: Error) => number;
  logger: Logger;
  /** Where errors of a worker without a connection of its own go (the pipeline's connection log). */
  fallbackErrors: RedisErrorLog;
}

/** The workers of one process: started by the roles, made ready and closed together. */
export interface WorkerPool {
  /** Starts a worker for one queue of the catalog, with the catalog's lock and stall settings. */
  start<T>(key: QueueKey, processor: Processor<T>, concurrency: number): Worker<T>;
  readonly workers: readonly Worker[];
  ready(): Promise<void>;
  /**
   * Active jobs get `timeoutMs` to finish; after that the workers stop waiting and those
   * jobs' locks lapse, so another worker redoes them (every step is idempotent). True when
   * jobs were handed back so: what they still have under way (calls to Target) is to be
   * dropped, not waited for.
   */
  close(timeoutMs: number, abandonCalls?: () => Promise<void>): Promise<boolean>;
}

export function createWorkerPool(options: WorkerPoolOptions): WorkerPool {
  const workers: Worker[] = [];
  const connections: RedisClient[] = [];
  const errorLogs = new Map<string, RedisErrorLog>();
  const clearing = new Set<Promise<void>>();
  const { logger } = options;
  /**
   * A completed job that its queue keeps loses its events or visitor keys
   * (src/jobs/completed-data.ts): one Redis call per job, after BullMQ completed it, so a
   * crash in between leaves a kept job whole (bounded by its queue's count and age) and never
   * a job to redo without its data. Deferred until the other listeners of the `completed`
   * event (metrics) have read the job as it ran.
   */
  const clearCompleted = (key: QueueKey, job: Job): void => {
    const keep = job.opts.removeOnComplete;
    if (keep === true || keep === 0) return;
    const cleared = clearedJobData(key, job.data);
    if (cleared === undefined) return;
    const done: Promise<void> = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => job.updateData(cleared))
      .catch((error: unknown) => {
        // Removed meanwhile (its queue keeps only the newest): nothing left to clear.
        if ((error as { code?: unknown }).code === JOB_NOT_EXIST) return;
        logger.warn(
          { queue: job.queueName, jobId: job.id, error: (error as Error).message },
          "could not clear a completed job's data: it stays until the job leaves by age or count",
        );
      })
      .finally(() => clearing.delete(done));
    clearing.add(done);
  };
  return {
    workers,
    start<T>(key: QueueKey, processor: Processor<T>, concurrency: number): Worker<T> {
      const queue = QUEUE_NAMES[key];
      const connection = options.connect();
      connections.push(connection);
      const errors = logRedisErrors(connection, logger.child({ queue }), `worker:${queue}`);
      errorLogs.set(queue, errors);
      const worker = new Worker<T>(queue, processor, {
        connection,
        prefix: bullPrefix(options.redisPrefix),
        concurrency,
        settings: { backoffStrategy: options.backoffStrategy },
        lockDuration: options.lockMs,
        stalledInterval: options.lockMs,
        maxStalledCount: WORKERS.maxStalledCount,
      });
      // Errors of the worker's connection come here as well: one log per error, repeats quieted.
      worker.on('error', (error) => (errorLogs.get(queue) ?? options.fallbackErrors).report(error, 'worker error'));
      worker.on('failed', (job, error) =>
        logger.warn(
          {
            queue,
            jobId: job?.id,
            attempt: job?.attemptsMade,
            code: (error as { code?: string }).code,
            error: error.message,
          },
          'job attempt failed',
        ),
      );
      worker.on('completed', (job) => clearCompleted(key, job as Job));
      workers.push(worker as Worker);
      return worker;
    },
    async ready() {
      await Promise.all(workers.map((w) => w.waitUntilReady()));
    },
    async close(timeoutMs, abandonCalls) {
      const graceful = Promise.all(workers.map((w) => w.close()));
      const settled = (ms: number): Promise<boolean> =>
        Promise.race([graceful.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);
      const handedBack = !(await settled(timeoutMs));
      if (handedBack) {
        logger.warn({ timeoutMs }, 'active jobs did not finish in time: handing them back');
        // First the calls to Target under way are dropped: their jobs fail at once and, with
        // the connections still open, write what they must (the visitors whose answer was
        // lost, src/deliver/deliver-single.ts) and go back to their queue.
        await abandonCalls?.();
        if (!(await settled(HAND_BACK_GRACE_MS))) {
          // Still running, on something else than Target. close(true) cannot cut short the
          // close under way (bullmq 6.7: Worker.close returns it), which waits for the jobs:
          // dropping the connections at once (no QUIT, which can wait for ever on a cluster
          // node that is reconnecting) stops their lock renewals, the locks lapse, and another
          // worker's stall check runs the jobs again (P7).
          for (const c of connections) c.disconnect();
          return true;
        }
      }
      await Promise.all([...clearing]);
      await Promise.all(connections.map((c) => c.quit()));
      return handedBack;
    },
  };
}
