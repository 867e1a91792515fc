import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { HttpContext } from '../http-context.js';
import { connectRedis, type RedisClient } from '../redis/connection.js';
import { acceptBatch, type AcceptCounts } from './accept.js';
import {
  Backpressure,
  readPipelineLoad,
  refuse,
  type Refusal,
  type RefusalReason,
  type Verdict,
} from './backpressure.js';
import { intakeAuthenticator } from './intake-auth.js';
import { openIntake } from './intake-deps.js';
import { BodyError, bodyFormatOf, parseBody, type BodyFormat } from './request-body.js';

/** Stable codes of the answers that are not 202, for producers that branch on them. */
export type IntakeErrorCode =
  | 'UNAUTHORIZED'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'BODY_TOO_LARGE'
  | BodyError['code']
  | 'NO_VALID_EVENTS'
  | 'BACKLOG'
  | 'REDIS_MEMORY'
  | 'REDIS_UNAVAILABLE'
  | 'SHUTTING_DOWN'
  | 'BAD_REQUEST'
  | 'INTERNAL_ERROR';

/**
 * The body of every answer of POST /v1/events. A 202 has the counts only; every other
 * answer adds `error` (a stable code) and `message` (for a person). Only a 202 means
 * events were taken (accepted) or had been taken before (duplicates).
 */
export interface IntakeAnswer {
  accepted: number;
  duplicates: number;
  /** Rejected events by index: array position, or 0-based line of an NDJSON body. */
  rejected: Array<{ index: number; errors: string[] }>;
  error?: IntakeErrorCode;
  message?: string;
}

export interface IntakePluginOptions {
  /** How long a backpressure reading is reused; default 300 ms. */
  backpressureCacheMs?: number;
}

const REFUSAL_CODES: Record<RefusalReason, IntakeErrorCode> = {
  backlog: 'BACKLOG',
  redis_memory: 'REDIS_MEMORY',
  redis_unavailable: 'REDIS_UNAVAILABLE',
  shutting_down: 'SHUTTING_DOWN',
};

// A Redis that hangs must turn into a 503 the producer can retry, not a request left open.
const REDIS_COMMAND_TIMEOUT_MS = 5_000;

/**
 * `POST /v1/events`: authenticates the source, refuses under backpressure before reading
 * the body, parses JSON or NDJSON, and answers 202 only once Redis holds the events (P1).
 */
export function intakePlugin(ctx: HttpContext, options: IntakePluginOptions = {}): FastifyPluginAsync {
  return async (app) => {
    const { config, metrics } = ctx;
    const logger = ctx.logger.child({ role: 'intake' });
    const authenticate = intakeAuthenticator(config, logger);
    // Intake's own connection fails fast (no offline queue): while Redis is away, requests
    // get a 503 at once instead of hanging until it returns.
    const redis = connectRedis(config, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    });
    let redisDown = false;
    redis.on('error', (error: NodeJS.ErrnoException) => {
      if (!redisDown) logger.warn({ code: error.code }, 'intake lost Redis: answering 503 until it is back');
      redisDown = true;
    });
    redis.on('ready', () => {
      if (redisDown) logger.info('intake reached Redis again');
      redisDown = false;
    });
    const intake = openIntake(redis, {
      prefix: config.REDIS_PREFIX,
      dedupeWindowMs: config.DEDUPE_WINDOW_MS,
      mapping: ctx.mapping,
      maxValueLength: config.MAX_VALUE_LENGTH,
      shards: config.REDIS_SHARDS,
      keepCompletedJobs: config.KEEP_COMPLETED_JOBS,
    });
    const backpressure = new Backpressure(
      () => readPipelineLoad(redis, intake.deps.ingestQueue, config.REDIS_PREFIX, config.REDIS_SHARDS),
      {
        maxQueuedBatches: config.INTAKE_MAX_QUEUED_BATCHES,
        maxPendingVisitors: config.INTAKE_MAX_PENDING_VISITORS,
        maxMemoryRatio: config.INTAKE_MAX_REDIS_MEMORY_RATIO,
      },
      options.backpressureCacheMs,
    );
    // Process start has made sure Redis answers; until this connection is up, requests
    // would get a 503, so registration waits for it (bounded: a later outage is a 503 anyway).
    await readyOrTimeout(redis, REDIS_COMMAND_TIMEOUT_MS);
    app.addHook('onClose', async () => {
      await intake.close();
      if (redis.status === 'ready') await redis.quit();
      else redis.disconnect();
    });

    const retryLater = (reply: FastifyReply, verdict: Refusal): FastifyReply => {
      metrics.recordBackpressure(verdict.reason);
      reply.header('retry-after', String(config.INTAKE_RETRY_AFTER_SECONDS));
      return answer(reply, verdict.status, REFUSAL_CODES[verdict.reason], verdict.message);
    };

    const admitted = new WeakMap<FastifyRequest, { source: string; format: BodyFormat }>();
    // Runs before the body is read: a refused request costs no parsing and no buffering.
    const admit = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
      const source = authenticate(request.headers.authorization);
      if (source === undefined) {
        reply.header('www-authenticate', 'Bearer realm="target-ingest"');
        return answer(
          reply,
          401,
          'UNAUTHORIZED',
          'missing or unknown API key; send Authorization: Bearer <source key>',
        );
      }
      const type = bodyFormatOf(request.headers['content-type']);
      if ('problem' in type) return answer(reply, 415, 'UNSUPPORTED_MEDIA_TYPE', type.problem);
      let verdict: Verdict;
      if (ctx.isStopping())
        verdict = refuse(
          503,
          'shutting_down',
          'this server is shutting down; retry (another instance may take the request)',
        );
      else if (redis.status !== 'ready')
        verdict = refuse(503, 'redis_unavailable', 'Redis does not answer; events are not taken until it is back');
      else verdict = await backpressure.check();
      if (!verdict.ok) return retryLater(reply, verdict);
      admitted.set(request, { source, format: type.format });
      return undefined;
    };

    app.removeAllContentTypeParsers();
    // Raw bytes: UTF-8 and JSON are checked by parseBody, so errors can name a line.
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    app.setErrorHandler((error: FastifyError, _request, reply) => {
      if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        return answer(
          reply,
          413,
          'BODY_TOO_LARGE',
          `request body is larger than ${config.INTAKE_BODY_LIMIT_BYTES} bytes (INTAKE_BODY_LIMIT_BYTES); send fewer events per request`,
        );
      }
      const status = error.statusCode ?? 500;
      if (status < 500) return answer(reply, status, 'BAD_REQUEST', error.message);
      logger.error({ code: error.code, msg: error.message }, 'intake request failed');
      return answer(
        reply,
        500,
        'INTERNAL_ERROR',
        'intake failed unexpectedly; send the request again (events already taken are reported as duplicates)',
      );
    });

    app.post('/v1/events', { bodyLimit: config.INTAKE_BODY_LIMIT_BYTES, onRequest: admit }, async (request, reply) => {
      const { source, format } = admitted.get(request) ?? { source: '', format: 'json' };
      if (source === '') throw new Error('request reached the handler without being admitted');
      let parsed;
      try {
        parsed = parseBody(
          Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0),
          format,
          config.INTAKE_MAX_EVENTS,
        );
      } catch (error) {
        if (error instanceof BodyError) return answer(reply, error.status, error.code, error.message);
        throw error;
      }
      let summary: AcceptCounts;
      try {
        summary = await acceptBatch(intake.deps, source, parsed.events);
      } catch (error) {
        // Only the code and message: ioredis errors carry the command's arguments (events).
        const { code, message } = error as NodeJS.ErrnoException;
        logger.error({ source, code, msg: message }, 'could not store events');
        return retryLater(
          reply,
          refuse(
            503,
            'redis_unavailable',
            'the events could not be stored in Redis; send the request again (events already taken are reported as duplicates)',
          ),
        );
      }
      const rejected = [
        ...parsed.rejected,
        ...summary.rejected.map((r) => ({ index: parsed.positions[r.index] ?? r.index, errors: r.errors })),
      ].sort((a, b) => a.index - b.index);
      metrics.recordIntake(source, { ...summary, rejected });
      ctx.pipeline.flow.recordIntake(source, {
        received: summary.accepted + summary.duplicates + rejected.length,
        rejected: rejected.length,
        accepted: summary.accepted,
      });
      logger.debug(
        { source, accepted: summary.accepted, duplicates: summary.duplicates, rejected: rejected.length },
        'intake request',
      );
      const counts = { accepted: summary.accepted, duplicates: summary.duplicates, rejected };
      if (summary.accepted === 0 && summary.duplicates === 0) {
        return answer(
          reply,
          400,
          'NO_VALID_EVENTS',
          `none of the ${rejected.length} events is valid; see rejected for the reasons`,
          counts,
        );
      }
      return reply.code(202).send(counts satisfies IntakeAnswer);
    });
  };
}

function readyOrTimeout(redis: RedisClient, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      redis.off('ready', done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    redis.once('ready', done);
    if (redis.status === 'ready') done();
  });
}

function answer(
  reply: FastifyReply,
  status: number,
  error: IntakeErrorCode,
  message: string,
  counts: Pick<IntakeAnswer, 'accepted' | 'duplicates' | 'rejected'> = { accepted: 0, duplicates: 0, rejected: [] },
): FastifyReply {
  return reply.code(status).send({ ...counts, error, message } satisfies IntakeAnswer);
}
