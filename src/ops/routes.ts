/**
 * Paths of the operational routes every process serves, in one place so docker-compose
 * healthchecks, tests and docs/operations.md can be checked against them.
 */
export const OPS_ROUTES = {
  /** Liveness: 200 while the event loop runs. No auth (probes). */
  healthz: '/healthz',
  /** Readiness: Redis answers, this process' workers run, no shutdown under way. No auth. */
  readyz: '/readyz',
  /** Prometheus exposition. No auth: bounded labels, no ids, no secrets (docs/operations.md, "Metrics"). */
  metrics: '/metrics',
  /** bull-board for ADMIN_TOKEN: every queue, with pause, retry, clean and the rest. */
  dashboard: '/admin/queues',
  /** The same board, read-only, for ADMIN_READONLY_TOKEN (and ADMIN_TOKEN). */
  readonlyDashboard: '/admin/queues-readonly',
  /** The pipeline console (a static page), for either token: src/console/routes.ts. */
  console: '/admin',
  /** The console's overview as JSON: flow, budgets, Target's state, sources, dead letters. */
  consoleOverview: '/admin/api/overview',
} as const;
