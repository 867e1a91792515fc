import type { Queue } from 'bullmq';
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { VisitorStore } from '../coalesce/store.js';
import type { Config } from '../config.js';
import { DeadLetterAdmin } from '../dlq/admin.js';
import type { VisitorRef } from '../events/index.js';
import type { LandingQueueJob } from '../jobs/catalog.js';
import type { RedisClient } from '../redis/connection.js';
import { adminGuard, requireJson } from '../http/admin-auth.js';
import type { Logger } from '../logger.js';
import type { DeliveryQueues } from './delivery-jobs.js';
import { forgetVisitor } from './forget.js';

/** What the erasure route uses of the process (the process' HttpContext has it). */
export interface ErasureRoutesContext {
  config: Pick<Config, 'ADMIN_TOKEN' | 'ADMIN_READONLY_TOKEN' | 'FORGET_SUPPRESS_MS'>;
  pipeline: {
    queues: ConstructorParameters<typeof DeadLetterAdmin>[0] & {
      landingAudit: Queue<LandingQueueJob>;
    } & DeliveryQueues;
    store: VisitorStore;
    redis: RedisClient;
  };
  logger: Logger;
}

const KINDS: Record<string, VisitorRef['kind']> = { mboxPC: 'pcId', mbox3rdPartyId: 'thirdPartyId' };

const ForgetBody = z
  .object({
    /** How long to drop this visitor's events after the forget (ms); default FORGET_SUPPRESS_MS. */
    suppressForMs: z
      .number()
      .int()
      .positive()
      .max(10 * 365 * 24 * 3600_000)
      .optional(),
  })
  .strict();

/**
 *   POST /admin/visitors/<mboxPC|mbox3rdPartyId>/<id>/forget   {} or {"suppressForMs": n}
 * ADMIN_TOKEN only (a read-only admin may not erase), `Content-Type: application/json`;
 * 200 with what was removed (src/erasure/forget.ts). Without ADMIN_TOKEN the route is off.
 */
export function erasureRoutes(ctx: ErasureRoutesContext): FastifyPluginAsync {
  return (app) => {
    const tokens = { admin: ctx.config.ADMIN_TOKEN, readonly: ctx.config.ADMIN_READONLY_TOKEN };
    if (tokens.admin === undefined) return Promise.resolve();
    const logger = ctx.logger.child({ role: 'erasure' });
    const admin = new DeadLetterAdmin(ctx.pipeline.queues, ctx.pipeline.store, logger);
    const writers = adminGuard({ tokens, allow: ['admin'] });
    app.post('/admin/visitors/:kind/:id/forget', { onRequest: [writers, requireJson] }, async (request, reply) => {
      const { kind, id } = request.params as { kind: string; id: string };
      const visitorKind = KINDS[kind];
      if (visitorKind === undefined || id === '') {
        return reply.code(404).send({
          error: 'not_found',
          message: 'use /admin/visitors/mboxPC/<id>/forget or /admin/visitors/mbox3rdPartyId/<id>/forget',
        });
      }
      const body = ForgetBody.safeParse(request.body ?? {});
      if (!body.success) {
        return reply.code(400).send({
          error: 'bad_request',
          problems: body.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`),
        });
      }
      return forgetVisitor(
        {
          store: ctx.pipeline.store,
          deadLetters: admin,
          landingAudits: { queue: ctx.pipeline.queues.landingAudit, redis: ctx.pipeline.redis },
          ingest: ctx.pipeline.queues.ingest,
          delivery: ctx.pipeline.queues,
          logger,
          suppressForMs: body.data.suppressForMs ?? ctx.config.FORGET_SUPPRESS_MS,
        },
        { kind: visitorKind, id },
      );
    });
    return Promise.resolve();
  };
}
