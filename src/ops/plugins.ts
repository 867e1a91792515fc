import type { HttpContext, NamedPlugin } from '../http-context.js';
import { dashboardPlugin } from './dashboard.js';
import { healthPlugin } from './health.js';
import { metricsPlugin } from './metrics-route.js';

/**
 * The operational routes every process serves, whatever its roles: probes, metrics and the
 * queue dashboard (src/ops/routes.ts lists the paths).
 */
export function opsPlugins(ctx: HttpContext): NamedPlugin[] {
  return [
    { name: 'health', plugin: healthPlugin(ctx) },
    { name: 'metrics', plugin: metricsPlugin(ctx) },
    { name: 'dashboard', plugin: dashboardPlugin(ctx) },
  ];
}
