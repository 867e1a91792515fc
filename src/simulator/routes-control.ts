import type { FastifyInstance } from 'fastify';
import type { SimulatorContext } from './context.js';
import { applyFaults, FaultsSchema } from './faults-schema.js';

export { applyFaults, FaultsSchema, parseFaultsJson, type EndpointFaults, type Faults } from './faults-schema.js';

/**
 * `/_simulator/*`: steer the simulator from outside its process (the demo, the benchmark,
 * docker-compose users): set faults (JSON of faults-schema.ts), read them and the call
 * counters, reset. Not part of Target's API. When the simulator requires a Bearer token,
 * these routes require it too.
 */
export function registerControlRoutes(app: FastifyInstance, ctx: SimulatorContext): void {
  void app.register((scope, _opts, done) => {
    scope.addHook('onRequest', async (request, reply) => {
      const token = ctx.settings.authToken;
      if (token !== undefined && request.headers.authorization !== `Bearer ${token}`) {
        await reply.code(401).send({ error: 'the simulator requires its Bearer token on control routes' });
      }
    });
    scope.get('/_simulator/stats', () => ({
      single: ctx.stats.single,
      bulk: ctx.stats.bulk,
      bulkV1: ctx.stats.bulkV1,
      bulkRejected: ctx.stats.bulkRejected,
      rateLimited: ctx.stats.rateLimited,
      status: ctx.stats.status,
      fetch: ctx.stats.fetch,
      dropped: ctx.stats.dropped,
      byStatus: ctx.stats.byStatus,
      profiles: ctx.store.size,
    }));
    scope.post('/_simulator/faults', async (request, reply) => {
      // The simulator keeps every body as raw text (Target's form decoding is emulated by hand).
      let body: unknown = request.body;
      if (typeof body === 'string') {
        try {
          body = JSON.parse(body);
        } catch {
          return reply.code(400).send({ error: ['body: expected JSON'] });
        }
      }
      const parsed = FaultsSchema.safeParse(body);
      if (!parsed.success) {
        return reply.code(400).send({ error: parsed.error.issues.map((i) => `${i.path.map(String).join('.') || 'body'}: ${i.message}`) });
      }
      try {
        applyFaults(ctx, parsed.data, ctx.now());
      } catch (error) {
        if (error instanceof RangeError) return reply.code(400).send({ error: [error.message] });
        throw error;
      }
      return { ok: true };
    });
    scope.get('/_simulator/faults', () => ctx.faults.describe());
    scope.post('/_simulator/reset', () => {
      ctx.faults.restore();
      ctx.stats.reset();
      return { ok: true };
    });
    done();
  });
}
