import { createHash } from 'node:crypto';
import { UnrecoverableError, type Job } from 'bullmq';
import type { VisitorStore } from '../coalesce/store.js';
import type { Config } from '../config.js';
import type { DeadLetters } from '../dlq/writer.js';
import type { CompiledMapping } from '../events/index.js';
import type { IngestJob } from '../jobs/catalog.js';
import type { PipelineQueues } from '../jobs/queues.js';
import type { RedisClient } from '../redis/connection.js';
import { rawEventVisitorKey } from '../dlq/visitor-filter.js';
import { stripFailedIngestJobs } from '../erasure/ingest-jobs.js';
import { ingestEvents } from '../jobs/ingest-rows.js';
import type { WorkerPool } from '../jobs/workers.js';
import { jobLogger, type Logger } from '../logger.js';
import { createMapProcessor } from './processor.js';

export interface MapRoleDeps {
  config: Pick<Config, 'MAX_VALUE_LENGTH' | 'WORKER_CONCURRENCY'>;
  pool: WorkerPool;
  store: VisitorStore;
  redis: RedisClient;
  queues: Pick<PipelineQueues, 'ingest'>;
  mapping: CompiledMapping;
  deadLetters: DeadLetters;
  logger: Logger;
}

/**
 * The map role: WORKER_CONCURRENCY workers on the ingest queue validate, map and merge each
 * producer batch. A batch whose retries are spent (Redis kept failing), or whose data cannot
 * be read, becomes a dead letter with its events, so "accepted" always ends in delivered or
 * dead-lettered (docs/invariants.md, P1).
 */
export function startMapRole(deps: MapRoleDeps): void {
  const logger = deps.logger.child({ role: 'map' });
  const processor = createMapProcessor({
    store: deps.store,
    mapping: deps.mapping,
    deadLetters: deps.deadLetters,
    maxValueLength: deps.config.MAX_VALUE_LENGTH,
    logger,
  });
  const worker = deps.pool.start<IngestJob>('ingest', processor, deps.config.WORKER_CONCURRENCY);
  worker.on('failed', (job, error) => {
    if (job === undefined) return;
    const spent = job.attemptsMade >= (job.opts.attempts ?? 1) || error instanceof UnrecoverableError;
    if (!spent) return;
    const at = Date.now();
    const data = job.data as Partial<IngestJob> | undefined;
    void stripForgotten(deps, job, logger);
    void deps.deadLetters
      .add(
        {
          stage: 'map',
          source: typeof data?.source === 'string' ? data.source : 'unknown',
          events: Array.isArray(data?.events) || Array.isArray(data?.rows) ? ingestEvents(data ?? {}) : [data],
          error: { class: error.name, code: (error as { code?: string }).code ?? 'MAP_FAILED', message: error.message },
          attempts: job.attemptsMade,
          firstAttemptAt: job.timestamp,
          lastAttemptAt: at,
        },
        `map-failed-${job.id ?? at}`,
      )
      .catch((e: unknown) =>
        jobLogger(logger, job).error(
          { err: e },
          'could not dead-letter a failed ingest batch; it stays in the failed set',
        ),
      );
  });
}

/**
 * A job that failed for good stays in the failed set until removed; the dead letter written
 * for it leaves out forgotten visitors (src/dlq/writer.ts), and so must the job: the events
 * of visitors forgotten (and still suppressed) are taken out of it (src/erasure/ingest-jobs.ts).
 * A forget that ran while this job was retrying did not read it.
 */
async function stripForgotten(deps: MapRoleDeps, job: Job, logger: Logger): Promise<void> {
  const vks = new Set<string>();
  for (const event of ingestEvents((job.data ?? {}) as Partial<IngestJob>)) {
    const vk = rawEventVisitorKey(event);
    if (vk !== undefined) vks.add(vk);
  }
  if (vks.size === 0 || job.id === undefined) return;
  let forgotten: ReadonlySet<string>;
  try {
    forgotten = await deps.store.suppressedAmong([...vks]);
  } catch (error) {
    jobLogger(logger, job).error(
      { err: error },
      'could not tell whether a failed ingest batch holds forgotten visitors; a forget of one of them finds it',
    );
    return;
  }
  if (forgotten.size === 0) return;
  try {
    await stripFailedIngestJobs(deps.queues.ingest, deps.redis, forgotten, [job.id]);
  } catch (error) {
    // Named by hash, as the forget's own audit line names them (src/erasure/forget.ts).
    const visitorHashes = [...forgotten].map((vk) => createHash('sha1').update(vk).digest('hex'));
    jobLogger(logger, job).error(
      { err: error, visitorHashes },
      'could not take forgotten visitors out of a failed ingest batch: run forget for them again',
    );
  }
}
