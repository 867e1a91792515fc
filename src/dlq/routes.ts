import type { FastifyPluginAsync } from 'fastify';
import type { Config } from '../config.js';
import { adminGuard, requireJson } from '../http/admin-auth.js';
import type { Logger } from '../logger.js';
import type { RedactionPolicy } from '../redact.js';
import { DeadLetterAdmin } from './admin.js';
import { CursorError } from './cursor.js';
import { DeadLetterFilterSchema, FilterError, parseFilter, type DeadLetterFilter } from './filters.js';

/** What the dead-letter routes use of the process (the process' HttpContext has it). */
export interface DeadLetterRoutesContext {
  config: Pick<Config, 'ADMIN_TOKEN' | 'ADMIN_READONLY_TOKEN'>;
  pipeline: {
    queues: ConstructorParameters<typeof DeadLetterAdmin>[0];
    store: ConstructorParameters<typeof DeadLetterAdmin>[1];
  };
  logger: Logger;
  /** What every answer is masked with: dead letters keep raw events, private fields included. */
  redaction: Pick<RedactionPolicy, 'value'>;
}

/**
 * `/admin/dead-letters`: the CLI's dlq commands over HTTP. Reading needs ADMIN_TOKEN or the
 * read-only token; replay and purge need ADMIN_TOKEN. Without ADMIN_TOKEN the routes are off.
 * What the reads answer goes through the process' redaction policy (private fields of the
 * mapping, card numbers, secrets): dead letters keep whole raw events for replay.
 *   GET  /admin/dead-letters?stage=&code=&source=&since=&until=&limit=&offset=&cursor=
 *        → {total?, entries, next?, scanned, queued}: one page, newest first; `next` goes back
 *        as `cursor` for the following page (src/dlq/admin.ts says what a page reads)
 *   GET  /admin/dead-letters/:id
 *   POST /admin/dead-letters/replay  {"filter": {...}, "dryRun": true}  or  {"all": true}
 *   POST /admin/dead-letters/purge   {"filter": {...}, "dryRun": true}  or  {"all": true}
 */
export function deadLetterRoutes(ctx: DeadLetterRoutesContext): FastifyPluginAsync {
  return (app) => {
    const tokens = { admin: ctx.config.ADMIN_TOKEN, readonly: ctx.config.ADMIN_READONLY_TOKEN };
    if (tokens.admin === undefined) return Promise.resolve();
    const admin = new DeadLetterAdmin(ctx.pipeline.queues, ctx.pipeline.store, ctx.logger.child({ role: 'dlq-admin' }));
    const readers = adminGuard({ tokens, allow: ['admin', 'readonly'] });
    const writers = adminGuard({ tokens, allow: ['admin'] });
    const badFilter = (error: unknown) =>
      error instanceof FilterError
        ? { error: 'bad_filter', problems: error.problems }
        : error instanceof CursorError
          ? { error: 'bad_cursor', problems: error.problems }
          : undefined;

    app.get('/admin/dead-letters', { onRequest: readers }, async (request, reply) => {
      const query = request.query as Record<string, string | undefined>;
      try {
        const page = {
          limit: Math.min(1000, Number(query.limit ?? 100) || 100),
          offset: Number(query.offset ?? 0) || 0,
          ...(query.cursor !== undefined && query.cursor !== '' ? { cursor: query.cursor } : {}),
        };
        return ctx.redaction.value(await admin.list(parseFilter(query), page));
      } catch (error) {
        const body = badFilter(error);
        if (body === undefined) throw error;
        return reply.code(400).send(body);
      }
    });
    app.get('/admin/dead-letters/:id', { onRequest: readers }, async (request, reply) => {
      const entry = await admin.show((request.params as { id: string }).id);
      return entry === undefined ? reply.code(404).send({ error: 'not_found' }) : ctx.redaction.value(entry);
    });
    for (const action of ['replay', 'purge'] as const) {
      // The media type is checked before the body is read: a refused request costs no parsing.
      app.post(`/admin/dead-letters/${action}`, { onRequest: [writers, requireJson] }, async (request, reply) => {
        const checked = readActionRequest(request.body);
        if ('status' in checked) return reply.code(checked.status).send(checked.answer);
        const { filter, dryRun } = checked;
        const result =
          action === 'replay' ? await admin.replay(filter, { dryRun }) : await admin.purge(filter, { dryRun });
        return { action, dryRun, ...result };
      });
    }
    return Promise.resolve();
  };
}

const FILTER_FIELDS = Object.keys(DeadLetterFilterSchema.shape);
const BODY_FIELDS = ['filter', 'all', 'dryRun'];
const SHAPE = `{"filter": {"stage": "map"}, "dryRun": true} or {"all": true}`;

type ActionRequest =
  | { filter: DeadLetterFilter; dryRun: boolean }
  | { status: 400; answer: { error: string; message?: string; problems?: string[] } };

/**
 * Reads a replay or purge body. It must name what it acts on: a filter with at least one
 * field, or `"all": true`. An empty or missing filter, or one whose fields are all unknown,
 * is refused rather than taken as "everything"; so is an unknown field (a `dryrun` typo must
 * not turn a dry run into a real one).
 */
export function readActionRequest(body: unknown): ActionRequest {
  const refuse = (error: string, message: string): ActionRequest => ({ status: 400, answer: { error, message } });
  if (!isPlainObject(body)) return refuse('bad_request', `the body must be a JSON object: ${SHAPE}`);
  const unknown = Object.keys(body).filter((key) => !BODY_FIELDS.includes(key));
  if (unknown.length > 0)
    return refuse(
      'bad_request',
      `unknown field ${unknown.map((k) => JSON.stringify(k.slice(0, 32))).join(', ')}; the body takes filter, all and dryRun`,
    );
  if (body.dryRun !== undefined && typeof body.dryRun !== 'boolean')
    return refuse('bad_request', 'dryRun: expected true or false');
  if (body.all !== undefined && typeof body.all !== 'boolean')
    return refuse('bad_request', 'all: expected true or false');
  if (body.filter !== undefined && !isPlainObject(body.filter))
    return refuse('bad_filter', `filter: expected an object with some of ${FILTER_FIELDS.join(', ')}`);
  const given = body.filter ?? {};
  const unknownFilter = Object.keys(given).filter((key) => !FILTER_FIELDS.includes(key));
  if (unknownFilter.length > 0) {
    return {
      status: 400,
      answer: {
        error: 'bad_filter',
        problems: unknownFilter.map(
          (k) => `filter.${k.slice(0, 32)}: unknown field; a filter takes ${FILTER_FIELDS.join(', ')}`,
        ),
      },
    };
  }
  let filter: DeadLetterFilter;
  try {
    filter = parseFilter(given);
  } catch (error) {
    if (error instanceof FilterError) return { status: 400, answer: { error: 'bad_filter', problems: error.problems } };
    throw error;
  }
  const empty = Object.keys(filter).length === 0;
  if (body.all === true && !empty)
    return refuse('bad_filter', 'all: true acts on every dead letter; send either a filter or "all": true, not both');
  if (body.all !== true && empty) {
    return refuse(
      'filter_required',
      `filter: name at least one of ${FILTER_FIELDS.join(', ')}, or send "all": true to act on every dead letter`,
    );
  }
  return { filter, dryRun: body.dryRun === true };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
