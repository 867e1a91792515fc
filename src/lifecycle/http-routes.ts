import { consoleRoutes } from '../console/routes.js';
import { deadLetterRoutes } from '../dlq/routes.js';
import { erasureRoutes } from '../erasure/routes.js';
import type { HttpContext, NamedPlugin } from '../http-context.js';
import { intakePlugin } from '../intake/http.js';
import { lineageRoutes } from '../lineage/routes.js';
import { opsPlugins } from '../ops/plugins.js';

/**
 * The route plugins one process serves. Every process serves the operational routes
 * (health, metrics, dashboard, admin, console); only processes with the `intake` role take events.
 */
export function httpPluginsFor(ctx: HttpContext): NamedPlugin[] {
  const plugins: NamedPlugin[] = [
    ...opsPlugins(ctx),
    { name: 'dead-letters', plugin: deadLetterRoutes(ctx) },
    { name: 'erasure', plugin: erasureRoutes(ctx) },
    { name: 'lineage', plugin: lineageRoutes(ctx) },
    { name: 'console', plugin: consoleRoutes(ctx) },
  ];
  // Intake's error handler logs the 5xx it answers itself (src/intake/http.ts).
  if (ctx.roles.includes('intake')) plugins.push({ name: 'intake', plugin: intakePlugin(ctx), logsOwnErrors: true });
  return plugins;
}
