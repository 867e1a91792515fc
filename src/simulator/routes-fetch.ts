import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { SimulatorContext } from './context.js';
import { preview } from './form-encoding.js';
import { authFailure, injectFault, type EndpointRouteConfig } from './guards.js';
import type { IdentityKind } from './identity.js';

/**
 * Fetch Profile API: `GET /rest/v1/profiles/:tntId?client=<client>` and
 * `GET /rest/v1/profiles/thirdPartyId/:id?client=<client>`. JSON, in the documented shape:
 * 200 `{"client","visitorId","modifiedAt","profileAttributes":{"<name>":{"value","modifiedAt"}}}`
 * (plus `tntId` or `thirdPartyId`; the simulator does not link ids, so `visitorId` is the id
 * asked for), 404 `{"status":404,"message":"No profile found for client <client> with third
 * party id=<id>"}` (`tnt id=` for a tntId) when no profile exists or it expired. Wrong or
 * missing `client` → 400, missing, wrong or expired token → 401 (or `authFailureStatus`). Global
 * faults and latency do not apply here, so tests can look at what landed during an outage;
 * faults aimed at the `fetch` endpoint do (failures answer JSON `{ message }`).
 */
export function registerFetchRoutes(app: FastifyInstance, ctx: SimulatorContext): void {
  const config: EndpointRouteConfig = { endpoint: 'fetch' };
  const guard = {
    config,
    onRequest: async (request: FastifyRequest, reply: FastifyReply) => injectFault(ctx, 'fetch', request, reply),
  };
  app.get('/rest/v1/profiles/thirdPartyId/:id', guard, (request, reply) =>
    handleFetch(ctx, request, reply, 'thirdPartyId', (request.params as { id: string }).id),
  );
  app.get('/rest/v1/profiles/:tntId', guard, (request, reply) =>
    handleFetch(ctx, request, reply, 'pcId', (request.params as { tntId: string }).tntId),
  );
}

function handleFetch(
  ctx: SimulatorContext,
  request: FastifyRequest,
  reply: FastifyReply,
  kind: IdentityKind,
  id: string,
): FastifyReply {
  const { client } = request.query as { client?: unknown };
  if (client !== ctx.settings.clientCode) {
    return reply
      .code(400)
      .send({ message: `Unknown or missing client "${typeof client === 'string' ? preview(client) : ''}"` });
  }
  // The authFailures fault is for update calls; fetch shows what landed (like global faults).
  const failure = authFailure(ctx, request.headers.authorization, false);
  if (failure !== undefined) {
    if (failure.status === 401) reply.header('www-authenticate', 'Bearer');
    return reply.code(failure.status).send({ message: failure.message });
  }
  const profile = ctx.store.getProfile(kind, id);
  if (profile === undefined) {
    const named = kind === 'pcId' ? 'tnt id' : 'third party id';
    return reply.code(404).send({
      status: 404,
      message: `No profile found for client ${ctx.settings.clientCode} with ${named}=${preview(id)}`,
    });
  }
  ctx.stats.fetch += 1;
  const profileAttributes = Object.fromEntries(
    Object.entries(profile.attributes).map(([name, a]) => [
      name,
      { value: a.value, modifiedAt: a.modifiedAt.toISOString() },
    ]),
  );
  return reply.code(200).send({
    client: ctx.settings.clientCode,
    visitorId: id,
    ...(kind === 'pcId' ? { tntId: id } : { thirdPartyId: id }),
    modifiedAt: profile.modifiedAt.toISOString(),
    profileAttributes,
  });
}
