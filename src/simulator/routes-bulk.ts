import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { BulkApi } from './batches.js';
import { parseBatchBody } from './bulk-format.js';
import { rawQuery, type SimulatorContext } from './context.js';
import { parseForm, preview } from './form-encoding.js';
import { sendXmlError, sharedLimitRefusal, type EndpointRouteConfig } from './guards.js';
import { BULK_MAX_BODY_BYTES } from './limits.js';
import { BATCH_STATUS_PATHS, batchStatusLink } from './status-links.js';
import { batchAcceptedXml, batchStatusXml, errorXml, XML_CONTENT_TYPE } from './xml.js';

const FORM_TYPE = 'application/x-www-form-urlencoded';

/**
 * Bulk Profile Update v2 and v1, and the batch status.
 *
 * `POST /m2/:client/v2/profile/batchUpdate` (v2) and `POST /m2/:client/profile/batchUpdate`
 * (v1) take the same file, encoding, limits and answers. They differ in processing
 * (batches.ts): v2 creates profiles it has not seen and follows the override rule; v1
 * updates existing profiles only (an unknown or expired id counts in `profilesNotFound`,
 * documented) and has no override (none documented for v1). Both:
 * - more than `bulkCallsPerMinute` (default 50) admitted calls in the rolling window → 503
 *   (documented), without `Retry-After` (none documented). Adobe counts the Admin,
 *   Reporting and bulk profile APIs together; the simulator counts, in one window, bulk
 *   submits (v1, v2), batch status calls (both paths), Admin API calls (routes-admin.ts) and
 *   the `otherUsers` fault. Counted: calls past the fault, client-code and bearer checks,
 *   including ones answered `success=false` or 404; calls refused with 503 do not count;
 * - body of 50,000,000 bytes or more → 413 before it is read to the end (Adobe says "under
 *   50 MB"; the strictest reading of MB; the answer code is a simulator choice);
 * - a body that is not form-encoded, or a file Target cannot read (see `parseBatchBody`) →
 *   HTTP 200 with `success=false` and the reason (documented for a raw `%`);
 * - otherwise 200 with the documented body; its status link names an edge host, as Target's
 *   does (`statusLink`, see status-links.ts). The batch is `incomplete` for its processing
 *   time (`batchProcessingMs` + jitter, or the `slowBatches` fault), see batches.ts. A row whose id is
 *   refused by `faults.rejectVisitor` (or `failRowsUnlisted`) is not applied and counts as a
 *   failed update; a row lost (`bulkRowLoss`, `faults.loseBulkRow`) counts as a successful
 *   update and is not applied either (documented: up to 0.1% of rows may not be onboarded).
 *   With `faults.answerBatchesLate`, a batch is taken and processed as usual but its answer
 *   waits: a client that timed out before has lost it.
 *
 * `GET /m2/:client/profile/batchStatus?batchId=<id>[&showDetails=true]`, also on
 * `/m2/:client/v2/profile/batchStatus` (the older documented link; `m2Node` is ignored): the
 * documented fields, and with `showDetails=true` one `<profile><id>…</id><status>failed</status></profile>`
 * per listed failed row (see xml.ts); an id the simulator no longer keeps (`statusRetentionMs` after submit,
 * default 24 h) or never issued → 404 with an XML error (simulator choice: Adobe documents
 * neither how long statuses are kept nor what an unknown id answers).
 */
export function registerBulkRoutes(app: FastifyInstance, ctx: SimulatorContext): void {
  // Fastify rejects bodies over bodyLimit with 413, so "under 50 MB" means this.
  const submit = { bodyLimit: BULK_MAX_BODY_BYTES - 1, config: { endpoint: 'bulk' } satisfies EndpointRouteConfig };
  app.post('/m2/:client/v2/profile/batchUpdate', submit, (request, reply) =>
    handleBatchUpdate(ctx, request, reply, 'v2'),
  );
  app.post('/m2/:client/profile/batchUpdate', submit, (request, reply) => handleBatchUpdate(ctx, request, reply, 'v1'));
  for (const path of BATCH_STATUS_PATHS) {
    app.get(path, { config: { endpoint: 'status' } satisfies EndpointRouteConfig }, (request, reply) =>
      handleBatchStatus(ctx, request, reply),
    );
  }
}

function handleBatchUpdate(
  ctx: SimulatorContext,
  request: FastifyRequest,
  reply: FastifyReply,
  api: BulkApi,
): FastifyReply | Promise<FastifyReply> {
  const limited = sharedLimitRefusal(ctx);
  if (limited !== undefined) return sendXmlError(reply, 503, limited);
  const reject = (message: string): FastifyReply => {
    ctx.stats.bulkRejected += 1;
    return reply.code(200).type(XML_CONTENT_TYPE).send(errorXml(message));
  };
  const type = request.headers['content-type'] ?? '';
  if (!type.toLowerCase().startsWith(FORM_TYPE)) {
    return reject(`Content-Type must be ${FORM_TYPE}, got "${type}"`);
  }
  const parsed = parseBatchBody(typeof request.body === 'string' ? request.body : '', ctx.settings.bulkCellDecoding);
  if (!parsed.ok) return reject(parsed.message);

  const stuck = ctx.faults.takeStuckBatch();
  // Rows refused by `rejectVisitor` / `failRowsUnlisted`, and rows that will not land
  // (`loseBulkRows`, `bulkRowLoss`), are decided now, as the batch is taken.
  const rejectedRows = new Set<number>();
  const unlistedRows = new Set<number>();
  const lostRows = new Set<number>();
  const loss = ctx.settings.bulkRowLoss;
  parsed.rows.forEach((row, index) => {
    if (ctx.faults.failsUnlisted(row.id)) unlistedRows.add(index);
    else if (ctx.faults.rejectionFor(row.id) !== undefined) rejectedRows.add(index);
    else if (ctx.faults.takeLostRow(row.id) || (loss > 0 && ctx.random() < loss)) lostRows.add(index);
  });
  const late = ctx.faults.takeLateAnswer();
  const timing = ctx.faults.batchTiming() ?? ctx.settings.batchTiming;
  const processingMs = late?.processingMs ?? timing.processingMs + ctx.random() * timing.jitterMs;
  const batchId = ctx.batches.submit(
    { api, kind: parsed.kind, columns: parsed.columns, rows: parsed.rows },
    { processingMs, stuck, rejectedRows, unlistedRows, lostRows },
  );
  if (api === 'v2') ctx.stats.bulk += 1;
  else ctx.stats.bulkV1 += 1;
  const statusUrl = batchStatusLink(ctx.settings.statusLink, ctx.settings.clientCode, batchId, ctx.publicUrl());
  const answer = (): FastifyReply => reply.code(200).type(XML_CONTENT_TYPE).send(batchAcceptedXml(statusUrl));
  // Taken and processing: the answer waits, whether or not the client still does.
  if (late !== undefined) return sleep(late.answerAfterMs, undefined, { ref: false }).then(answer);
  return answer();
}

function handleBatchStatus(ctx: SimulatorContext, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const limited = sharedLimitRefusal(ctx);
  if (limited !== undefined) return sendXmlError(reply, 503, limited);
  ctx.stats.statusCalls += 1;
  const query = parseForm(rawQuery(request.raw.url));
  if (!query.ok) return sendXmlError(reply, 400, `query string: ${query.message}`);
  const batchId = query.pairs.find((p) => p.name === 'batchId')?.value ?? '';
  if (batchId === '') return sendXmlError(reply, 400, 'missing batchId');
  const showDetails = query.pairs.some((p) => p.name === 'showDetails' && p.value === 'true');
  const view = ctx.batches.status(batchId);
  if (view === undefined) {
    return sendXmlError(reply, 404, `batch "${preview(batchId)}" is unknown or its status is no longer kept`);
  }
  ctx.stats.status += 1;
  return reply.code(200).type(XML_CONTENT_TYPE).send(batchStatusXml(view, showDetails));
}
