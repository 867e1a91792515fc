import { Queue, type DefaultJobOptions, type QueueOptions } from 'bullmq';
import type { RedisClient } from '../redis/connection.js';
import {
  JOB_OPTIONS,
  QUEUE_NAMES,
  bullPrefix,
  type BulkStatusJob,
  type DeadLetter,
  type DeliverJob,
  type IngestJob,
  type LandingQueueJob,
  type QueueKey,
} from './catalog.js';

/**
 * The queues of one pipeline, typed by what their jobs carry. A type, not an interface, so
 * `Object.values` sees its members (an interface has no implicit index signature).
 */
export type PipelineQueues = {
  ingest: Queue<IngestJob>;
  flush: Queue;
  deliverSingle: Queue<DeliverJob>;
  deliverBulk: Queue<DeliverJob>;
  bulkStatus: Queue<BulkStatusJob>;
  landingAudit: Queue<LandingQueueJob>;
  deadLetter: Queue<DeadLetter>;
};

export interface QueueSettings {
  /** The pipeline's REDIS_PREFIX (its hash tag becomes BullMQ's prefix). */
  redisPrefix: string;
  /** DELIVERY_MAX_ATTEMPTS: the attempts of a delivery job (default 12). */
  deliveryAttempts?: number;
  /**
   * KEEP_COMPLETED_JOBS: completed jobs stay for the catalog's bounded time and count
   * (default); `false` removes each as it completes. Job options are fixed when a job is
   * added, so this is the setting of the process that adds the job.
   */
  keepCompleted?: boolean;
}

/** Default job options of one queue, from the catalog. */
function defaultJobOptions(key: QueueKey, settings: QueueSettings): QueueOptions['defaultJobOptions'] {
  const options = catalogOptions(key, settings);
  return settings.keepCompleted === false && key !== 'deadLetter' ? { ...options, removeOnComplete: true } : options;
}

function catalogOptions(key: QueueKey, settings: QueueSettings): DefaultJobOptions {
  switch (key) {
    case 'ingest':
      return JOB_OPTIONS.ingest;
    case 'flush':
      return JOB_OPTIONS.flush;
    case 'deliverSingle':
    case 'deliverBulk':
      return { ...JOB_OPTIONS.deliver, attempts: settings.deliveryAttempts ?? 12 };
    case 'bulkStatus':
      return JOB_OPTIONS.bulkStatus;
    case 'landingAudit':
      return JOB_OPTIONS.landingAudit;
    case 'deadLetter':
      return JOB_OPTIONS.deadLetter;
  }
}

/**
 * Opens one queue of a pipeline on `connection` (which the caller owns): the one place a
 * queue is built, so the pipeline, the CLI, intake and the SDK agree on its name, prefix and
 * job options. Errors of the queue go to `onError`; without a listener BullMQ prints each
 * one to the console, the Redis password included.
 */
export function openQueue<K extends QueueKey>(
  key: K,
  connection: RedisClient,
  settings: QueueSettings,
  onError: (error: Error) => void = () => undefined,
): PipelineQueues[K] {
  const queue = new Queue(QUEUE_NAMES[key], {
    connection,
    prefix: bullPrefix(settings.redisPrefix),
    defaultJobOptions: defaultJobOptions(key, settings),
  });
  queue.on('error', onError);
  return queue as PipelineQueues[K];
}

/** Every queue of a pipeline (see {@link openQueue}). */
export function openQueues(
  connection: RedisClient,
  settings: QueueSettings,
  onError?: (error: Error) => void,
): PipelineQueues {
  return {
    ingest: openQueue('ingest', connection, settings, onError),
    flush: openQueue('flush', connection, settings, onError),
    deliverSingle: openQueue('deliverSingle', connection, settings, onError),
    deliverBulk: openQueue('deliverBulk', connection, settings, onError),
    bulkStatus: openQueue('bulkStatus', connection, settings, onError),
    landingAudit: openQueue('landingAudit', connection, settings, onError),
    deadLetter: openQueue('deadLetter', connection, settings, onError),
  };
}
