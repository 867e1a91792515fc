import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { bearerToken } from './auth.js';
import { rawQuery, type SimulatorContext } from './context.js';
import { parseForm } from './form-encoding.js';
import { injectFault, sharedLimitRefusal, type EndpointRouteConfig } from './guards.js';

/**
 * Stand-ins for Adobe IMS and the Target Admin API's profile token endpoint, so a client
 * can fetch or rotate the profile authentication token the documented way. All JSON; faults
 * aimed at the `admin` endpoint apply (global ones do not).
 *
 * `POST /ims/token/v3` (Adobe IMS, OAuth server-to-server; real host
 * `ims-na1.adobelogin.com`): form body (or query) `client_id`, `client_secret`,
 * `grant_type=client_credentials`, `scope` → 200 `{"access_token","token_type":"bearer","expires_in"}`
 * (`expires_in` in seconds, 24 h). Wrong client id or secret → 401
 * `{"error":"invalid_client",…}`; another grant type → 400 `{"error":"unsupported_grant_type",…}`.
 * Not counted against the per-minute limit (IMS is not a Target API).
 *
 * `GET /:tenant/target/authentication/token?authorizationScope=profile_api` (Admin API;
 * real host `mc.adobe.io`) with `Authorization: Bearer <IMS access token>` and
 * `x-api-key: <client id>` → 200 `{"accessToken","tokenType":"bearer","scope":"profile_api","expiresIn"}`
 * with the current profile token; `expiresIn` in seconds (Adobe's example, 7775999, reads
 * as 90 days in seconds; the unit is not stated), Adobe's example value when no
 * `tokenLifetimeMs` is set. `POST` on the same path creates a new profile token, which
 * invalidates the old one at once (documented), and answers the same shape. Checks, in order:
 * IMS token missing/unknown/expired → 401; x-api-key not the client id → 403; tenant not
 * `adminTenant` → 404; `authorizationScope` not `profile_api` → 400; then the shared limit
 * (Adobe counts Admin API calls in the 50 a minute) → 503. JSON error bodies carry
 * `error_code` and `message` (their exact shape is not documented).
 */
export function registerAdminRoutes(app: FastifyInstance, ctx: SimulatorContext): void {
  const config: EndpointRouteConfig = { endpoint: 'admin' };
  const onRequest = async (request: FastifyRequest, reply: FastifyReply) => injectFault(ctx, 'admin', request, reply);
  app.post('/ims/token/v3', { config, onRequest }, (request, reply) => handleImsToken(ctx, request, reply));
  const path = '/:tenant/target/authentication/token';
  app.get(path, { config, onRequest }, (request, reply) => handleProfileToken(ctx, request, reply, false));
  app.post(path, { config, onRequest }, (request, reply) => handleProfileToken(ctx, request, reply, true));
}

function handleImsToken(ctx: SimulatorContext, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const body = typeof request.body === 'string' ? request.body : '';
  const params = new Map<string, string>();
  for (const text of [rawQuery(request.raw.url), body]) {
    const form = parseForm(text);
    if (!form.ok) return reply.code(400).send({ error: 'invalid_request', error_description: form.message });
    for (const { name, value } of form.pairs) params.set(name, value);
  }
  if (
    params.get('client_id') !== ctx.settings.imsClientId ||
    params.get('client_secret') !== ctx.settings.imsClientSecret
  ) {
    return reply.code(401).send({ error: 'invalid_client', error_description: 'invalid client_id or client_secret' });
  }
  if (params.get('grant_type') !== 'client_credentials') {
    return reply
      .code(400)
      .send({ error: 'unsupported_grant_type', error_description: 'grant_type must be client_credentials' });
  }
  const { token, expiresInSeconds } = ctx.ims.issue();
  ctx.stats.ims += 1;
  return reply.code(200).send({ access_token: token, token_type: 'bearer', expires_in: expiresInSeconds });
}

function handleProfileToken(
  ctx: SimulatorContext,
  request: FastifyRequest,
  reply: FastifyReply,
  regenerate: boolean,
): FastifyReply {
  if (!ctx.ims.isValid(bearerToken(request.headers.authorization))) {
    return reply.code(401).send({ error_code: '401013', message: 'Oauth token is not valid' });
  }
  if (request.headers['x-api-key'] !== ctx.settings.imsClientId) {
    return reply.code(403).send({ error_code: '403000', message: 'Api Key is invalid' });
  }
  const { tenant } = request.params as { tenant: string };
  if (tenant !== ctx.settings.adminTenant) {
    return reply.code(404).send({ error_code: '404000', message: `Unknown tenant "${tenant.slice(0, 60)}"` });
  }
  const scope = parseForm(rawQuery(request.raw.url));
  if (!scope.ok || !scope.pairs.some((p) => p.name === 'authorizationScope' && p.value === 'profile_api')) {
    return reply.code(400).send({ error_code: '400000', message: 'authorizationScope must be profile_api' });
  }
  const limited = sharedLimitRefusal(ctx);
  if (limited !== undefined) return reply.code(503).send({ error_code: '503000', message: limited });
  ctx.stats.admin += 1;
  const accessToken = regenerate ? ctx.token.regenerate() : ctx.token.current;
  return reply
    .code(200)
    .send({ accessToken, tokenType: 'bearer', scope: 'profile_api', expiresIn: ctx.token.expiresInSeconds() });
}
