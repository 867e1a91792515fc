import type { FastifyPluginAsync } from 'fastify';
import type { HttpContext } from '../http/plugins.js';
import { adminGuard } from '../ops/admin-auth.js';
import { redactValue } from '../ops/redact.js';
import { DeadLetterAdmin } from './admin.js';
import { FilterError, parseFilter } from './filters.js';

/**
 * `/admin/dead-letters`: the CLI's dlq commands over HTTP. Reading needs ADMIN_TOKEN or the
 * read-only token; replay and purge need ADMIN_TOKEN. Without ADMIN_TOKEN the routes are off.
 *   GET  /admin/dead-letters?stage=&code=&source=&since=&until=&limit=&offset=
 *   GET  /admin/dead-letters/:id
 *   POST /admin/dead-letters/replay  {"filter": {...}, "dryRun": true}
 *   POST /admin/dead-letters/purge   {"filter": {...}, "dryRun": true}
 */
export function deadLetterRoutes(ctx: HttpContext): FastifyPluginAsync {
  return (app) => {
    const tokens = { admin: ctx.config.ADMIN_TOKEN, readonly: ctx.config.ADMIN_READONLY_TOKEN };
    if (tokens.admin === undefined) return Promise.resolve();
    const admin = new DeadLetterAdmin(ctx.pipeline.queues, ctx.pipeline.store, ctx.logger.child({ role: 'dlq-admin' }));
    const readers = adminGuard({ tokens, allow: ['admin', 'readonly'] });
    const writers = adminGuard({ tokens, allow: ['admin'] });
    const badFilter = (error: unknown) => (error instanceof FilterError ? { error: 'bad_filter', problems: error.problems } : undefined);

    app.get('/admin/dead-letters', { onRequest: readers }, async (request, reply) => {
      const query = request.query as Record<string, string | undefined>;
      try {
        const page = { limit: Math.min(1000, Number(query.limit ?? 100) || 100), offset: Number(query.offset ?? 0) || 0 };
        return redactValue(await admin.list(parseFilter(query), page), ['cardId', 'agentId']);
      } catch (error) {
        const body = badFilter(error);
        if (body === undefined) throw error;
        return reply.code(400).send(body);
      }
    });
    app.get('/admin/dead-letters/:id', { onRequest: readers }, async (request, reply) => {
      const entry = await admin.show((request.params as { id: string }).id);
      return entry === undefined ? reply.code(404).send({ error: 'not_found' }) : redactValue(entry, ['cardId', 'agentId']);
    });
    for (const action of ['replay', 'purge'] as const) {
      app.post(`/admin/dead-letters/${action}`, { onRequest: writers }, async (request, reply) => {
        const body = (request.body ?? {}) as { filter?: Record<string, unknown>; dryRun?: unknown };
        try {
          const filter = parseFilter(body.filter ?? {});
          const dryRun = body.dryRun === true;
          const result = action === 'replay' ? await admin.replay(filter, { dryRun }) : await admin.purge(filter, { dryRun });
          return { action, dryRun, ...result };
        } catch (error) {
          const bad = badFilter(error);
          if (bad === undefined) throw error;
          return reply.code(400).send(bad);
        }
      });
    }
    return Promise.resolve();
  };
}
