import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { SimulatorContext } from './context.js';

/**
 * `/_simulator/*`: steer the simulator from outside its process (the demo, the benchmark,
 * docker-compose users): set faults, read call counters, reset. Not part of Target's API.
 * When the simulator requires a Bearer token, these routes require it too.
 */
export const FaultsSchema = z.object({
  /** Answer every profile call with this status until cleared (`null` clears). */
  outage: z.number().int().min(400).max(599).nullable().optional(),
  /** The next `count` profile calls answer `status`. */
  failNext: z.object({ count: z.number().int().min(1).max(100_000), status: z.number().int().min(400).max(599) }).optional(),
  /** Each profile call fails with `status` with this probability. */
  errorRate: z.object({ probability: z.number().min(0).max(1), status: z.number().int().min(400).max(599).default(500) }).optional(),
  /** The next `n` connections are dropped without an answer. */
  dropConnections: z.number().int().min(1).max(100_000).optional(),
  /** The next `n` accepted batches get stuck. */
  stickNextBatches: z.number().int().min(1).max(1000).optional(),
  /** Added latency per profile call, in ms. */
  latencyMs: z.number().int().min(0).max(120_000).optional(),
  /** Single updates for these visitor ids are refused with 400. */
  rejectVisitors: z.array(z.string().min(1).max(256)).max(10_000).optional(),
  /** Retry-After (seconds) sent with injected failures. */
  retryAfterSeconds: z.number().int().min(0).max(3600).optional(),
}).strict();
export type Faults = z.infer<typeof FaultsSchema>;

/** Applies a fault description (also used for the CLI's `--faults` JSON). */
export function applyFaults(ctx: Pick<SimulatorContext, 'faults'>, faults: Faults): void {
  const opts = faults.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: faults.retryAfterSeconds };
  if (faults.outage === null) ctx.faults.restore();
  else if (faults.outage !== undefined) ctx.faults.outage(faults.outage, opts);
  if (faults.failNext !== undefined) ctx.faults.failNext(faults.failNext.count, faults.failNext.status, opts);
  if (faults.errorRate !== undefined) ctx.faults.errorRate(faults.errorRate.probability, faults.errorRate.status, opts);
  if (faults.dropConnections !== undefined) ctx.faults.dropConnections(faults.dropConnections);
  if (faults.stickNextBatches !== undefined) ctx.faults.stickNextBatches(faults.stickNextBatches);
  if (faults.latencyMs !== undefined) ctx.faults.setLatency(faults.latencyMs);
  for (const id of faults.rejectVisitors ?? []) ctx.faults.rejectVisitor(id);
}

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
        return reply.code(400).send({ error: parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`) });
      }
      applyFaults(ctx, parsed.data);
      return { ok: true };
    });
    scope.post('/_simulator/reset', () => {
      ctx.faults.restore();
      ctx.stats.reset();
      return { ok: true };
    });
    done();
  });
}
