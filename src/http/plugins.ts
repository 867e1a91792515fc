import type { FastifyPluginAsync } from 'fastify';
import { deadLetterRoutes } from '../dlq/routes.js';
import type { Config } from '../config.js';
import type { CompiledMapping } from '../events/index.js';
import { intakePlugin } from '../intake/http.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../ops/metrics.js';
import { opsPlugins } from '../ops/plugins.js';
import type { Pipeline, Role } from '../pipeline.js';

/** What route plugins may use: the process' config, pipeline handles and its state. */
export interface HttpContext {
  config: Config;
  logger: Logger;
  mapping: CompiledMapping;
  pipeline: Pipeline;
  metrics: Metrics;
  roles: readonly Role[];
  /** True once a shutdown began: readiness turns false, intake refuses new work. */
  isStopping: () => boolean;
}

export interface NamedPlugin {
  name: string;
  plugin: FastifyPluginAsync;
}

/**
 * The route plugins one process serves. Every process serves the operational routes
 * (health, metrics, dashboard, admin); only processes with the `intake` role take events.
 */
export function httpPluginsFor(ctx: HttpContext): NamedPlugin[] {
  const plugins: NamedPlugin[] = [...opsPlugins(ctx), { name: 'dead-letters', plugin: deadLetterRoutes(ctx) }];
  if (ctx.roles.includes('intake')) plugins.push({ name: 'intake', plugin: intakePlugin(ctx) });
  return plugins;
}
