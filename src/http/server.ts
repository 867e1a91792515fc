import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyPluginAsync,
  type FastifyRequest,
} from 'fastify';
import type { Logger } from '../logger.js';

/** A route plugin of the process' server. */
export interface RoutePlugin {
  name: string;
  plugin: FastifyPluginAsync;
  /**
   * The plugin's own error handler logs the errors it answers with a 5xx, so the server does
   * not log them again. Default false: the server logs them (see {@link buildHttpServer}).
   */
  logsOwnErrors?: boolean;
}

export interface HttpServerOptions {
  logger: Logger;
  /** Largest request body accepted (bytes); bigger bodies get 413. */
  bodyLimit: number;
  /** Route plugins: intake, health, metrics, dashboard, admin. Each registers its own routes. */
  plugins: readonly RoutePlugin[];
}

/**
 * The process' one HTTP server. Routes live with the part they serve (src/intake, src/ops)
 * and come in as plugins, so this file only builds the server and hands out the logger.
 *
 * There are no per-request log lines (URLs can carry ids, and intake logs its own counts),
 * which also silences fastify's own logging of failed requests. So an error that ends in a
 * 5xx answer, on any route, is logged here once: `method`, the route pattern
 * (`/admin/dead-letters/:id`, never the URL with its ids), `status` and the error, through
 * the redacting logger; never the request body or its headers. A 5xx a route sends on
 * purpose, without an error (`/readyz` not ready, intake backpressure), is not an error line.
 */
export async function buildHttpServer(options: HttpServerOptions): Promise<FastifyInstance> {
  // Typed as fastify's logger interface so the app keeps fastify's default generics.
  const loggerInstance: FastifyBaseLogger = options.logger.child({ role: 'http' });
  const app = Fastify({
    loggerInstance,
    bodyLimit: options.bodyLimit,
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: true,
    // Visitor ids are route parameters (/admin/visitors/<kind>/<id>/…): an mbox3rdPartyId
    // may have 256 characters, three times that once percent-encoded. Fastify's default of
    // 100 answered 414 (with the URL in the message) for a long one.
    routerOptions: { maxParamLength: 1024 },
  });
  const failures = new WeakMap<FastifyRequest, Error>();
  const loggedByRoute = new WeakSet<FastifyRequest>();
  // Root hooks, added before any plugin: every route inherits them.
  app.addHook('onError', (request, _reply, error, done) => {
    failures.set(request, error);
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    const error = failures.get(request);
    if (error !== undefined && reply.statusCode >= 500 && !loggedByRoute.has(request)) {
      request.log.error(
        { err: error, method: request.method, route: request.routeOptions.url ?? 'no route', status: reply.statusCode },
        'request failed',
      );
    }
    done();
  });
  for (const { plugin, logsOwnErrors } of options.plugins) {
    if (logsOwnErrors !== true) {
      await app.register(plugin);
      continue;
    }
    // One more encapsulation level, so the mark covers this plugin's routes only.
    await app.register(async (scope) => {
      scope.addHook('onRequest', (request, _reply, done) => {
        loggedByRoute.add(request);
        done();
      });
      await scope.register(plugin);
    });
  }
  return app;
}

/** Starts listening; resolves with the bound URL. */
export async function listen(app: FastifyInstance, port: number, host = '0.0.0.0'): Promise<string> {
  return app.listen({ port, host });
}
