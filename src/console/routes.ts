import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply } from 'fastify';
import { DeadLetterAdmin } from '../dlq/admin.js';
import type { HttpContext } from '../http-context.js';
import { adminGuard, credentialFrom, roleFor, type AdminTokens } from '../http/admin-auth.js';
import { OPS_ROUTES } from '../ops/routes.js';
import { SCRAPE_REDIS_TIMEOUT_MS, withTimeout } from '../ops/scrape.js';
import { buildOverview } from './overview.js';
import { readOverview } from './overview-reads.js';

/** The page's files, served as they are (no build step): src/console/page/. */
const ASSETS = {
  [OPS_ROUTES.console]: { file: 'index.html', type: 'text/html; charset=utf-8' },
  [`${OPS_ROUTES.console}/console.js`]: { file: 'console.js', type: 'text/javascript; charset=utf-8' },
  [`${OPS_ROUTES.console}/dom.js`]: { file: 'dom.js', type: 'text/javascript; charset=utf-8' },
  [`${OPS_ROUTES.console}/search.js`]: { file: 'search.js', type: 'text/javascript; charset=utf-8' },
  [`${OPS_ROUTES.console}/overview-view.js`]: { file: 'overview-view.js', type: 'text/javascript; charset=utf-8' },
  [`${OPS_ROUTES.console}/dead-letters-view.js`]: {
    file: 'dead-letters-view.js',
    type: 'text/javascript; charset=utf-8',
  },
  [`${OPS_ROUTES.console}/console.css`]: { file: 'console.css', type: 'text/css; charset=utf-8' },
} as const;

/**
 * The page runs only its own script and style, talks only to this server, and is never
 * framed: whatever a value shown holds, it cannot load or run anything.
 */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

/**
 * The pipeline console (docs/operations.md, "Pipeline console"): a static page at `/admin`
 * over JSON routes, for ADMIN_TOKEN and the read-only token, GET only:
 *   GET /admin                the page (its script and style next to it)
 *   GET /admin/api/overview   the flow, budgets, Target's state, sources, dead letters by group
 * The page also calls the lineage routes (src/lineage/routes.ts) for its search, and the
 * dead-letter routes (src/dlq/routes.ts) for replay, which need ADMIN_TOKEN there.
 * Without ADMIN_TOKEN the paths answer 404 saying how to turn them on.
 */
export function consoleRoutes(ctx: HttpContext): FastifyPluginAsync {
  return (app) => {
    const admin = ctx.config.ADMIN_TOKEN;
    if (admin === undefined) {
      disabledRoutes(app);
      return Promise.resolve();
    }
    const tokens: AdminTokens = { admin, readonly: ctx.config.ADMIN_READONLY_TOKEN };
    const readers = adminGuard({ tokens, allow: ['admin', 'readonly'], readOnly: true });
    const source = {
      ...ctx.pipeline,
      prefix: ctx.config.REDIS_PREFIX,
      deadLetterAdmin: new DeadLetterAdmin(
        ctx.pipeline.queues,
        ctx.pipeline.store,
        ctx.logger.child({ role: 'console' }),
      ),
    };
    for (const [path, asset] of Object.entries(ASSETS)) {
      // Read once at start: a missing file fails the start, not a request.
      const body = readFileSync(new URL(`./page/${asset.file}`, import.meta.url));
      app.get(path, { onRequest: readers }, (_request, reply) =>
        reply.headers(PAGE_HEADERS).type(asset.type).send(body),
      );
    }
    app.get(`${OPS_ROUTES.console}/`, { onRequest: readers }, (_request, reply) => reply.redirect(OPS_ROUTES.console));
    app.get(OPS_ROUTES.consoleOverview, { onRequest: readers }, async (request, reply) => {
      // The guard let it in, so the credential grants a role.
      const role = roleFor(credentialFrom(request.headers.authorization), tokens) ?? 'readonly';
      if (ctx.pipeline.redis.status !== 'ready')
        return unavailable(reply, `not connected (${ctx.pipeline.redis.status})`);
      let overview;
      try {
        overview = buildOverview(await withTimeout(readOverview(source, role), SCRAPE_REDIS_TIMEOUT_MS));
      } catch (error) {
        ctx.logger.warn({ code: (error as NodeJS.ErrnoException).code }, 'console overview: Redis did not answer');
        return unavailable(reply, `no answer within ${SCRAPE_REDIS_TIMEOUT_MS} ms`);
      }
      return reply.header('cache-control', 'no-store').send(ctx.redaction.value(overview));
    });
    return Promise.resolve();
  };
}

function unavailable(reply: FastifyReply, why: string): FastifyReply {
  return reply
    .code(503)
    .header('cache-control', 'no-store')
    .send({ error: 'redis_unavailable', message: `Redis: ${why}` });
}

const DISABLED = {
  error: 'not_found',
  message: 'admin routes are disabled: set ADMIN_TOKEN (at least 16 characters) to enable the console',
};

function disabledRoutes(app: FastifyInstance): void {
  for (const path of [...Object.keys(ASSETS), OPS_ROUTES.consoleOverview]) {
    app.all(path, async (_request, reply) => reply.code(404).send(DISABLED));
  }
}
