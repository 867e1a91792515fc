import type { FastifyInstance } from 'fastify';
import type { SimulatorContext } from './context.js';
import { z } from 'zod';
import { bearerToken } from './auth.js';
import { applyFaults, FaultsSchema } from './faults-schema.js';

export { applyFaults, FaultsSchema, parseFaultsJson, type EndpointFaults, type Faults } from './faults-schema.js';

/** The body of `POST /_simulator/token`. */
const TokenActionSchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('regenerate') }).strict(),
  z.object({ action: z.literal('expire') }).strict(),
  z.object({ action: z.literal('set'), token: z.string().min(1).max(4096) }).strict(),
]);

const INVALID = Symbol('invalid JSON');

/** The simulator keeps every body as raw text (Target's form decoding is emulated by hand). */
function jsonBody(body: unknown): unknown {
  if (typeof body !== 'string') return body;
  try {
    return JSON.parse(body);
  } catch {
    return INVALID;
  }
}

/**
 * `/_simulator/*`: steer the simulator from outside its process (the demo, the benchmark,
 * docker-compose users). Not part of Target's API.
 * - `GET /_simulator/stats`: call counters (stats.ts);
 * - `POST /_simulator/faults` (JSON of faults-schema.ts); `GET /_simulator/faults`: per
 *   scope (`all`, endpoints) what is set, and `account` (faults-account.ts);
 * - `POST /_simulator/token`: `{"action":"regenerate"}` → `{"token":"<new>"}` (the old one
 *   fails at once), `{"action":"expire"}` → `{"ok":true}` (the current one fails),
 *   `{"action":"set","token":"…"}` → `{"token":"…"}`; each turns authentication on;
 * - `POST /_simulator/reset`: clears faults and counters.
 * Guarded by `controlToken` when set (else open; the simulator binds 127.0.0.1), never by
 * the profile token, so a test can still steer after rotating it.
 */
export function registerControlRoutes(app: FastifyInstance, ctx: SimulatorContext): void {
  void app.register((scope, _opts, done) => {
    scope.addHook('onRequest', async (request, reply) => {
      const token = ctx.settings.controlToken;
      if (token !== undefined && bearerToken(request.headers.authorization) !== token) {
        await reply
          .code(401)
          .send({ error: 'the simulator requires its control token (controlToken) on /_simulator routes' });
      }
    });
    scope.get('/_simulator/stats', () => ({
      single: ctx.stats.single,
      bulk: ctx.stats.bulk,
      bulkV1: ctx.stats.bulkV1,
      bulkRejected: ctx.stats.bulkRejected,
      rateLimited: ctx.stats.rateLimited,
      status: ctx.stats.status,
      statusCalls: ctx.stats.statusCalls,
      admin: ctx.stats.admin,
      ims: ctx.stats.ims,
      otherUsersCharged: ctx.stats.otherUsersCharged,
      overrideRemovals: ctx.stats.overrideRemovals,
      failedRows: ctx.stats.failedRows,
      lostRows: ctx.stats.lostRows,
      pendingBatches: ctx.batches.pending,
      fetch: ctx.stats.fetch,
      dropped: ctx.stats.dropped,
      byStatus: ctx.stats.byStatus,
      profiles: ctx.store.size,
    }));
    scope.post('/_simulator/faults', async (request, reply) => {
      const body = jsonBody(request.body);
      if (body === INVALID) return reply.code(400).send({ error: ['body: expected JSON'] });
      const parsed = FaultsSchema.safeParse(body);
      if (!parsed.success) {
        return reply
          .code(400)
          .send({ error: parsed.error.issues.map((i) => `${i.path.map(String).join('.') || 'body'}: ${i.message}`) });
      }
      try {
        applyFaults(ctx, parsed.data, ctx.now());
      } catch (error) {
        if (error instanceof RangeError) return reply.code(400).send({ error: [error.message] });
        throw error;
      }
      return { ok: true };
    });
    scope.get('/_simulator/faults', () => ({ ...ctx.faults.describe(), account: ctx.faults.describeAccount() }));
    scope.post('/_simulator/token', async (request, reply) => {
      const body = jsonBody(request.body);
      const parsed = TokenActionSchema.safeParse(body === INVALID ? undefined : body);
      if (!parsed.success) {
        return reply.code(400).send({
          error: ['body: expected {"action":"regenerate"}, {"action":"expire"} or {"action":"set","token":"..."}'],
        });
      }
      const action = parsed.data;
      switch (action.action) {
        case 'regenerate':
          return { token: ctx.token.regenerate() };
        case 'set':
          ctx.token.set(action.token);
          return { token: action.token };
        case 'expire':
          ctx.token.expire();
          return { ok: true };
      }
    });
    scope.post('/_simulator/reset', () => {
      ctx.faults.restore();
      ctx.stats.reset();
      return { ok: true };
    });
    done();
  });
}
