import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { bearerMatches, rawPath, type SimulatorContext } from './context.js';
import { preview } from './form-encoding.js';
import { errorXml, XML_CONTENT_TYPE } from './xml.js';

/** Sends an XML error and returns the reply, which ends an async hook or handler. */
export function sendXmlError(reply: FastifyReply, status: number, message: string): FastifyReply {
  return reply.code(status).type(XML_CONTENT_TYPE).send(errorXml(message));
}

/**
 * The `onRequest` hook in front of the single, bulk and batch status endpoints. In order:
 * added latency, injected faults (before anything else, as a Target outage would), the
 * client code in the path (unknown → 400), then the bearer token when one is configured
 * (missing or wrong → 401). Runs before the body is read, so a 503 costs no upload parsing.
 */
export function profileCallGuard(ctx: SimulatorContext) {
  return async function guardProfileCall(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    const latency = ctx.faults.latencyMs;
    if (latency > 0) await sleep(latency);

    const fault = ctx.faults.takeDecision();
    switch (fault.kind) {
      case 'drop':
        ctx.stats.dropped += 1;
        ctx.stats.record({ method: request.method, path: rawPath(request.raw.url), status: 0, at: Date.now() });
        reply.hijack();
        request.raw.socket.destroy();
        return reply;
      case 'fail':
        if (fault.retryAfterSeconds !== undefined) reply.header('retry-after', String(fault.retryAfterSeconds));
        return sendXmlError(reply, fault.status, `Simulated failure (HTTP ${fault.status})`);
      case 'none':
        break;
    }

    const query = request.query as Record<string, string | undefined>;
    const rejectedWith = ctx.faults.rejectionFor(query.mbox3rdPartyId ?? query.mboxPC);
    if (rejectedWith !== undefined) return sendXmlError(reply, rejectedWith, 'Simulated rejection of this visitor');

    const { client } = request.params as { client?: string };
    if (client !== ctx.settings.clientCode) {
      return sendXmlError(reply, 400, `Unknown client code "${preview(client ?? '')}"`);
    }
    const token = ctx.settings.authToken;
    if (token !== undefined && !bearerMatches(request.headers.authorization, token)) {
      reply.header('www-authenticate', 'Bearer');
      const what = request.headers.authorization === undefined ? 'missing' : 'not valid';
      return sendXmlError(reply, 401, `Profile API authentication token is ${what}`);
    }
    return undefined;
  };
}
