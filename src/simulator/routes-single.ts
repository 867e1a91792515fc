import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { singleUpdateCreates } from './batches.js';
import { rawQuery, type SimulatorContext } from './context.js';
import { parseForm, type FormPair } from './form-encoding.js';
import { sendXmlError, type EndpointRouteConfig } from './guards.js';
import { SINGLE_GET_MAX_BYTES, SINGLE_POST_MAX_BYTES } from './limits.js';
import { readSingleUpdate } from './single-update.js';
import { singleSuccessXml, XML_CONTENT_TYPE } from './xml.js';

const FORM_TYPE = 'application/x-www-form-urlencoded';

/**
 * Single Profile Update: `GET|POST /m2/:client/profile/update`.
 *
 * Size limits (documented 8 KB GET, 60 KB POST; the answer codes are simulator choices):
 * - GET: request target (path + query) over 8,192 bytes → **414 URI Too Long**;
 * - POST: query-string bytes + body bytes over 61,440 → **413 Payload Too Large**.
 * Request lines over 128 KB are refused by Node itself with 431.
 *
 * A POST may carry parameters in the query string, in an `application/x-www-form-urlencoded`
 * body, or both (merged); a non-empty body of any other type → 415.
 *
 * A visitor refused by `faults.rejectVisitor` answers its status wherever the id was sent
 * (query string or form body), after the request was read and found valid.
 *
 * Unknown ids: Target documents that this API updates only, and its answer does not show
 * that nothing happened. `createOnSingleUpdate` says what the simulator does: `'pcId'`
 * creates only mboxPC profiles (Target issued that id, so it has the profile) and drops an
 * unknown mbox3rdPartyId with a success answer, as Target does; `false` drops every unknown
 * id; the programmatic default `true` creates all, for tests that never made a visitor known.
 */
export function registerSingleRoutes(app: FastifyInstance, ctx: SimulatorContext): void {
  const config: EndpointRouteConfig = { endpoint: 'single' };
  app.get('/m2/:client/profile/update', { config }, (request, reply) => handleSingle(ctx, request, reply));
  app.post('/m2/:client/profile/update', { config }, (request, reply) => handleSingle(ctx, request, reply));
}

async function handleSingle(
  ctx: SimulatorContext,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<FastifyReply> {
  const target = request.raw.url ?? '';
  const query = rawQuery(target);
  let body = '';
  if (request.method === 'GET') {
    const size = Buffer.byteLength(target);
    if (size > SINGLE_GET_MAX_BYTES) {
      return sendXmlError(reply, 414, `GET request is ${size} bytes, over the limit of ${SINGLE_GET_MAX_BYTES}`);
    }
  } else {
    body = typeof request.body === 'string' ? request.body : '';
    const size = Buffer.byteLength(query) + Buffer.byteLength(body);
    if (size > SINGLE_POST_MAX_BYTES) {
      return sendXmlError(reply, 413, `POST request is ${size} bytes, over the limit of ${SINGLE_POST_MAX_BYTES}`);
    }
    const type = request.headers['content-type'] ?? '';
    if (body !== '' && !type.toLowerCase().startsWith(FORM_TYPE)) {
      return sendXmlError(reply, 415, `POST body must be ${FORM_TYPE}, got "${type}"`);
    }
  }

  const pairs: FormPair[] = [];
  for (const [where, text] of [
    ['query string', query],
    ['body', body],
  ] as const) {
    const parsed = parseForm(text);
    if (!parsed.ok) return sendXmlError(reply, 400, `${where}: ${parsed.message}`);
    pairs.push(...parsed.pairs);
  }
  const reading = readSingleUpdate(pairs, ctx.settings.maxValueLength);
  if (!reading.ok) return sendXmlError(reply, 400, reading.message);

  const { kind, id, attributes } = reading.update;
  ctx.stats.singleArrived += 1;
  const slowness = ctx.faults.slownessFor(id);
  if (slowness > 0) await sleep(slowness);
  const rejectedWith = ctx.faults.rejectionFor(id);
  if (rejectedWith !== undefined) return sendXmlError(reply, rejectedWith, 'Simulated rejection of this visitor');
  const create = singleUpdateCreates(ctx.settings.createOnSingleUpdate, kind);
  const outcome = ctx.store.apply(kind, id, attributes, { create, via: 'single' });
  if (outcome === 'tooLarge') {
    return sendXmlError(reply, 400, 'profile would exceed 64 KB of attribute data');
  }
  ctx.stats.single += 1;
  // The documented body names the id <pcId> even for mbox3rdPartyId calls; the simulator
  // does not link ids, so it echoes the id it was given.
  return reply.code(200).type(XML_CONTENT_TYPE).send(singleSuccessXml(id));
}
