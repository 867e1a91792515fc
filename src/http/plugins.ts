import { deadLetterRoutes } from '../dlq/routes.js';
import type { Config } from '../config.js';
import type { CompiledMapping } from '../events/index.js';
import { intakePlugin } from '../intake/http.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../ops/metrics.js';
import { opsPlugins } from '../ops/plugins.js';
import type { Pipeline, Role } from '../pipeline.js';
import type { RoutePlugin } from './server.js';

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

/** A route plugin with its name (and whether it logs its own failed requests). */
export type NamedPlugin = RoutePlugin;

/**
 * The route plugins one process serves. Every process serves the operational routes
 * (health, metrics, dashboard, admin); only processes with the `intake` role take events.
 */
export function httpPluginsFor(ctx: HttpContext): NamedPlugin[] {
  const plugins: NamedPlugin[] = [...opsPlugins(ctx), { name: 'dead-letters', plugin: deadLetterRoutes(ctx) }];
  // Intake's error handler logs the 5xx it answers itself (src/intake/http.ts).
  if (ctx.roles.includes('intake')) plugins.push({ name: 'intake', plugin: intakePlugin(ctx), logsOwnErrors: true });
  return plugins;
}
