import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import type { Logger } from '../logger.js';

export interface HttpServerOptions {
  logger: Logger;
  /** Largest request body accepted (bytes); bigger bodies get 413. */
  bodyLimit: number;
  /** Route plugins: intake, health, metrics, dashboard, admin. Each registers its own routes. */
  plugins: ReadonlyArray<{ name: string; plugin: FastifyPluginAsync }>;
}

/**
 * The process' one HTTP server. Routes live with the part they serve (src/intake, src/ops)
 * and come in as plugins, so this file only builds the server and hands out the logger.
 */
export async function buildHttpServer(options: HttpServerOptions): Promise<FastifyInstance> {
  // Typed as fastify's logger interface so the app keeps fastify's default generics.
  const loggerInstance: FastifyBaseLogger = options.logger.child({ role: 'http' });
  const app = Fastify({
    loggerInstance,
    bodyLimit: options.bodyLimit,
    // No per-request log lines: URLs can carry ids, and intake logs its own counts.
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: true,
  });
  for (const { plugin } of options.plugins) await app.register(plugin);
  return app;
}

/** Starts listening; resolves with the bound URL. */
export async function listen(app: FastifyInstance, port: number, host = '0.0.0.0'): Promise<string> {
  return app.listen({ port, host });
}
