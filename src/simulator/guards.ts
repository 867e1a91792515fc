import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { TokenCheck } from './auth.js';
import { rawPath, type SimulatorContext } from './context.js';
import type { FaultEndpoint } from './faults.js';
import { preview } from './form-encoding.js';
import { errorXml, XML_CONTENT_TYPE } from './xml.js';

/** Sends an XML error and returns the reply, which ends an async hook or handler. */
export function sendXmlError(reply: FastifyReply, status: number, message: string): FastifyReply {
  return reply.code(status).type(XML_CONTENT_TYPE).send(errorXml(message));
}

/**
 * Counts one call against the limit Target shares between the Admin, Reporting and bulk
 * profile APIs (bulk submits v1 and v2, batch status calls on both paths, Admin API calls),
 * and returns the 503 message when the rolling window is full (the call is then not
 * counted). Adobe documents HTTP 503 past the limit and no Retry-After, so none is sent.
 */
export function sharedLimitRefusal(ctx: SimulatorContext): string | undefined {
  if (ctx.sharedLimit.tryAdmit()) return undefined;
  ctx.stats.rateLimited += 1;
  const waitMs = ctx.sharedLimit.msUntilFree();
  return `Limit of ${ctx.sharedLimitDescription} for the Admin, Reporting and bulk profile APIs together reached; next call admitted in ${waitMs} ms`;
}

/** Route `config` naming which endpoint a route is, so faults can be aimed at it. */
export interface EndpointRouteConfig {
  endpoint: FaultEndpoint;
}

/** The endpoint a request was routed to (set in each route's `config`). */
export function endpointOf(request: FastifyRequest): FaultEndpoint | undefined {
  return (request.routeOptions.config as Partial<EndpointRouteConfig> | undefined)?.endpoint;
}

/**
 * Added latency, then the injected fault for one call to `endpoint`: a dropped connection
 * or a failure answered in the endpoint's own format (XML, or JSON for the Fetch, IMS and
 * Admin APIs).
 * Returns the reply when the call must end here.
 */
export async function injectFault(
  ctx: SimulatorContext,
  endpoint: FaultEndpoint,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<FastifyReply | undefined> {
  const latency = ctx.faults.latencyFor(endpoint);
  if (latency > 0) await sleep(latency);
  const fault = ctx.faults.takeDecision(endpoint);
  switch (fault.kind) {
    case 'drop':
      ctx.stats.dropped += 1;
      ctx.stats.record({ method: request.method, path: rawPath(request.raw.url), status: 0, at: Date.now() });
      reply.hijack();
      request.raw.socket.destroy();
      return reply;
    case 'fail': {
      if (fault.retryAfterSeconds !== undefined) reply.header('retry-after', String(fault.retryAfterSeconds));
      const message = `Simulated failure (HTTP ${fault.status})`;
      if (endpoint === 'fetch' || endpoint === 'admin') return reply.code(fault.status).send({ message });
      return sendXmlError(reply, fault.status, message);
    }
    case 'none':
      return undefined;
  }
}

const CHECK_WORDS: Record<Exclude<TokenCheck, 'ok'>, string> = {
  missing: 'missing',
  invalid: 'not valid',
  expired: 'expired',
};

/**
 * The credentials check of a profile call: the `authFailures` fault first (when
 * `takeFault`), then the token. Undefined when the call may pass; else the status
 * (`authFailureStatus`, default 401; the fault's own) and message.
 */
export function authFailure(
  ctx: SimulatorContext,
  authorization: string | undefined,
  takeFault: boolean,
): { status: number; message: string } | undefined {
  const injected = takeFault ? ctx.faults.takeAuthFailure() : undefined;
  if (injected !== undefined)
    return { status: injected, message: 'Profile API authentication token is not valid (simulated failure)' };
  const check = ctx.token.check(authorization);
  if (check === 'ok') return undefined;
  return {
    status: ctx.settings.authFailureStatus,
    message: `Profile API authentication token is ${CHECK_WORDS[check]}`,
  };
}

/**
 * The `onRequest` hook in front of the single, bulk and batch status endpoints. In order:
 * added latency and injected faults for that endpoint (before anything else, as a Target
 * outage would), the client code in the path (unknown → 400), then the credentials
 * (`authFailure`: missing, wrong or expired token → 401, or 403 with `authFailureStatus`). Runs before the body is read, so a 503 costs
 * no upload parsing. Rejected visitors (`rejectVisitor`) are handled by the routes, which
 * see the decoded query and body.
 */
export function profileCallGuard(ctx: SimulatorContext) {
  return async function guardProfileCall(
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<FastifyReply | undefined> {
    const endpoint = endpointOf(request);
    if (endpoint !== undefined) {
      const ended = await injectFault(ctx, endpoint, request, reply);
      if (ended !== undefined) return ended;
    }
    const { client } = request.params as { client?: string };
    if (client !== ctx.settings.clientCode) {
      return sendXmlError(reply, 400, `Unknown client code "${preview(client ?? '')}"`);
    }
    const failure = authFailure(ctx, request.headers.authorization, true);
    if (failure !== undefined) {
      if (failure.status === 401) reply.header('www-authenticate', 'Bearer');
      return sendXmlError(reply, failure.status, failure.message);
    }
    return undefined;
  };
}
