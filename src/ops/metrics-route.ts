import type { FastifyPluginAsync } from 'fastify';
import type { HttpContext } from '../http-context.js';
import { watchPipeline } from '../metrics/pipeline-events.js';
import { OPS_ROUTES } from './routes.js';
import { refreshSharedGauges } from './scrape.js';

/**
 * `GET /metrics` in Prometheus' text format, and the listeners that feed it: registering the
 * plugin starts watching this process' workers and dead letters, closing the server stops.
 * Open without auth, like the probes: labels are bounded (no visitor or event ids) and no
 * value is secret; keep the port on the internal network (docs/operations.md, "Metrics").
 */
export function metricsPlugin(ctx: HttpContext): FastifyPluginAsync {
  return (app) => {
    const stopWatching = watchPipeline(ctx.metrics, ctx.pipeline);
    app.addHook('onClose', (_instance, done) => {
      stopWatching();
      done();
    });
    app.get(OPS_ROUTES.metrics, async (_request, reply) => {
      await refreshSharedGauges(ctx.metrics, ctx.pipeline);
      const body = await ctx.metrics.registry.metrics();
      return reply.header('content-type', ctx.metrics.registry.contentType).send(body);
    });
    return Promise.resolve();
  };
}
