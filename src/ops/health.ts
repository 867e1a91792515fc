import type { RedisClient } from '../redis/connection.js';
import type { FastifyPluginAsync } from 'fastify';
import type { HttpContext } from '../http-context.js';
import { OPS_ROUTES } from './routes.js';
import { withTimeout } from './scrape.js';

/** How long readiness waits for Redis to answer PING. Probes usually time out after 1-3 s. */
export const READY_REDIS_TIMEOUT_MS = 1000;

/** `ok`, or what is wrong; the JSON body of /readyz holds one per check. */
export interface ReadinessReport {
  ready: boolean;
  checks: { redis: string; workers: string; shutdown: string };
}

/**
 * Checks what a load balancer or orchestrator needs before sending work: Redis answers, every
 * worker of this process is running, and no shutdown has begun (so a stopping process drops
 * out of rotation while it finishes its active jobs).
 */
export async function readiness(
  ctx: Pick<HttpContext, 'pipeline' | 'isStopping'>,
  timeoutMs = READY_REDIS_TIMEOUT_MS,
): Promise<ReadinessReport> {
  const stopped = [...ctx.pipeline.workers].filter(([, worker]) => !worker.isRunning()).map(([name]) => name);
  const checks = {
    redis: await redisCheck(ctx.pipeline.redis, timeoutMs),
    workers: stopped.length === 0 ? 'ok' : `not running: ${stopped.join(', ')}`,
    shutdown: ctx.isStopping() ? 'stopping' : 'ok',
  };
  return { ready: Object.values(checks).every((c) => c === 'ok'), checks };
}

async function redisCheck(redis: RedisClient, timeoutMs: number): Promise<string> {
  // A disconnected client would queue the PING until Redis is back; say so at once instead.
  if (redis.status !== 'ready') return `not connected (${redis.status})`;
  try {
    const answer = await withTimeout(redis.ping(), timeoutMs);
    return answer === 'PONG' ? 'ok' : 'unexpected answer to PING';
  } catch {
    return `no answer to PING within ${timeoutMs} ms`;
  }
}

/** `/healthz` (liveness) and `/readyz` (readiness); both open, as container probes need. */
export function healthPlugin(ctx: HttpContext): FastifyPluginAsync {
  return (app) => {
    app.get(OPS_ROUTES.healthz, (_request, reply) => reply.send({ status: 'ok' }));
    app.get(OPS_ROUTES.readyz, async (_request, reply) => {
      const report = await readiness(ctx);
      return reply
        .code(report.ready ? 200 : 503)
        .send({ status: report.ready ? 'ready' : 'not ready', checks: report.checks });
    });
    return Promise.resolve();
  };
}
