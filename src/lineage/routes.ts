import type { FastifyPluginAsync } from 'fastify';
import type { Config } from '../config.js';
import { DeadLetterAdmin } from '../dlq/admin.js';
import type { VisitorRef } from '../events/index.js';
import { adminGuard } from '../http/admin-auth.js';
import type { PipelineQueues } from '../jobs/queues.js';
import type { Logger } from '../logger.js';
import type { RedactionPolicy } from '../redact.js';
import type { VisitorStore } from '../coalesce/store.js';
import type { RedisClient } from '../redis/connection.js';
import { deadLetterSearchNote } from './lineage.js';
import { readEventLineage, readVisitorLineage, type LineageDeps } from './reader.js';

/** What the lineage routes use of the process (the process' HttpContext has it). */
export interface LineageRoutesContext {
  config: Pick<Config, 'ADMIN_TOKEN' | 'ADMIN_READONLY_TOKEN' | 'REDIS_PREFIX' | 'DEDUPE_WINDOW_MS'>;
  pipeline: { redis: RedisClient; store: VisitorStore; queues: PipelineQueues };
  logger: Logger;
  redaction: Pick<RedactionPolicy, 'value'>;
}

const KINDS: Record<string, VisitorRef['kind']> = { mboxPC: 'pcId', mbox3rdPartyId: 'thirdPartyId' };

/** The reads behind the routes, the CLI's `trace` and the console. */
export function lineageDeps(ctx: Omit<LineageRoutesContext, 'redaction'>): LineageDeps {
  return {
    redis: ctx.pipeline.redis,
    store: ctx.pipeline.store,
    prefix: ctx.config.REDIS_PREFIX,
    queues: ctx.pipeline.queues,
    deadLetters: new DeadLetterAdmin(ctx.pipeline.queues, ctx.pipeline.store, ctx.logger.child({ role: 'lineage' })),
    dedupeWindowMs: ctx.config.DEDUPE_WINDOW_MS,
  };
}

/**
 * "Where is my event?" (src/lineage/lineage.ts has the shapes), ADMIN_TOKEN or the read-only
 * token, GET only; answers go through the process' redaction policy. Off without ADMIN_TOKEN.
 *   GET /admin/visitors/<mboxPC|mbox3rdPartyId>/<id>   a visitor: values, claim, deliveries, dead letters
 *   GET /admin/events/<source>/<id>                    an event: accepted, merged how, delivered by which call
 */
export function lineageRoutes(ctx: LineageRoutesContext): FastifyPluginAsync {
  return (app) => {
    const tokens = { admin: ctx.config.ADMIN_TOKEN, readonly: ctx.config.ADMIN_READONLY_TOKEN };
    if (tokens.admin === undefined) return Promise.resolve();
    const deps = lineageDeps(ctx);
    const readers = adminGuard({ tokens, allow: ['admin', 'readonly'] });
    app.get('/admin/visitors/:kind/:id', { onRequest: readers }, async (request, reply) => {
      const { kind, id } = request.params as { kind: string; id: string };
      const visitorKind = KINDS[kind];
      if (visitorKind === undefined || id === '') {
        return reply.code(404).send({
          error: 'not_found',
          message: 'use /admin/visitors/mboxPC/<id> or /admin/visitors/mbox3rdPartyId/<id>',
        });
      }
      const { view, deadLettersSearched } = await readVisitorLineage(deps, { kind: visitorKind, id });
      if (view === undefined) {
        const unsearched =
          deadLettersSearched === undefined ? '' : `; ${deadLetterSearchNote(deadLettersSearched, `${kind}:${id}`)}`;
        return reply.code(404).send(
          ctx.redaction.value({
            error: 'not_found',
            message: `nothing is pending, in flight, delivered, logged or dead-lettered for ${kind} ${id} (or it was forgotten, or its delivery log expired)${unsearched}`,
          }),
        );
      }
      return ctx.redaction.value(view);
    });
    app.get('/admin/events/:source/:id', { onRequest: readers }, async (request, reply) => {
      const { source, id } = request.params as { source: string; id: string };
      const view = await readEventLineage(deps, source, id);
      if (view === undefined) {
        return reply.code(404).send({
          error: 'not_found',
          message: `no event ${id} of source ${source} was taken in within the dedupe window (DEDUPE_WINDOW_MS)`,
        });
      }
      return ctx.redaction.value(view);
    });
    return Promise.resolve();
  };
}
