import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'undici';
import { resolveMapping } from '../../src/events/index.js';
import { httpPluginsFor } from '../../src/lifecycle/http-routes.js';
import { buildHttpServer } from '../../src/http/server.js';
import type { IntakeAnswer } from '../../src/intake/http.js';
import { createLogger } from '../../src/logger.js';
import { createRedactionPolicy } from '../../src/redact.js';
import { Metrics } from '../../src/metrics/metrics.js';
import type { Role } from '../../src/pipeline.js';
import { deletePrefix, newRedis } from './context.js';
import { startTestPipeline, type TestPipeline } from './pipeline.js';

/** The key of source `pos-eu` on every test server (sent by `post` unless told otherwise). */
export const POS_KEY = 'pos-eu-key-0123456789';
/** Source `kiosk` is configured by digest only: `kiosk:sha256:<hex>`. */
export const KIOSK_KEY = 'kiosk-key-abcdefghij';
const KIOSK_DIGEST = `sha256:${createHash('sha256').update(KIOSK_KEY).digest('hex')}`;

export interface PostOptions {
  /** Default `application/json`; `null` sends no Content-Type. */
  contentType?: string | null;
  /** Default {@link POS_KEY}; `null` sends no Authorization. */
  key?: string | null;
  headers?: Record<string, string>;
}

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: IntakeAnswer;
  text: string;
}

export interface IntakeServer {
  url: string;
  running: TestPipeline;
  app: FastifyInstance;
  metrics: Metrics;
  post(body: string | Buffer | object, options?: PostOptions): Promise<Answer>;
  close(): Promise<void>;
}

export interface IntakeServerOptions {
  env?: Record<string, string>;
  /** Pipeline roles besides intake; default none (events stay in the ingest queue). */
  roles?: readonly Role[];
  isStopping?: () => boolean;
}

/**
 * A test pipeline plus its HTTP server listening on a free port, built the way process.ts
 * builds it (httpPluginsFor), with two sources: `pos-eu` (plain key) and `kiosk` (hashed).
 */
export async function startIntakeServer(options: IntakeServerOptions = {}): Promise<IntakeServer> {
  const roles: Role[] = ['intake', ...(options.roles ?? [])];
  const running = await startTestPipeline(
    { INGEST_API_KEYS: `pos-eu:${POS_KEY},kiosk:${KIOSK_DIGEST}`, ...options.env },
    roles,
  );
  const metrics = new Metrics({ defaultMetrics: false });
  const mapping = resolveMapping();
  // As src/lifecycle/process.ts: one policy for the logger and the routes.
  const redaction = createRedactionPolicy({ config: running.config, mapping });
  const logger = createLogger({ level: running.config.LOG_LEVEL, pretty: false, redaction });
  const app = await buildHttpServer({
    logger,
    bodyLimit: running.config.INTAKE_BODY_LIMIT_BYTES,
    plugins: httpPluginsFor({
      config: running.config,
      logger,
      mapping,
      redaction,
      pipeline: running.pipeline,
      metrics,
      roles,
      isStopping: options.isStopping ?? (() => false),
    }),
  });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    url,
    running,
    app,
    metrics,
    async post(body, postOptions = {}) {
      const headers: Record<string, string> = { ...postOptions.headers };
      if (postOptions.contentType !== null) headers['content-type'] = postOptions.contentType ?? 'application/json';
      if (postOptions.key !== null) headers.authorization = `Bearer ${postOptions.key ?? POS_KEY}`;
      const payload = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
      const res = await request(`${url}/v1/events`, { method: 'POST', headers, body: payload });
      const text = await res.body.text();
      return { status: res.statusCode, headers: res.headers, body: JSON.parse(text) as IntakeAnswer, text };
    },
    async close() {
      await app.close();
      await running.close();
      const redis = newRedis(running.config.REDIS_URL);
      await deletePrefix(redis, running.prefix);
      await redis.quit();
    },
  };
}

/** A valid event for `visitor`, with a distinct id. */
export function kioskVisit(id: string, visitor = 'CRM-1', kioskId = 'K1'): Record<string, unknown> {
  return {
    id,
    type: 'kiosk_visit',
    occurredAt: '2026-11-21T10:15:00.000Z',
    visitor: { mbox3rdPartyId: visitor },
    data: { kioskId },
  };
}

/** The value of a counter (with these labels) in the metrics registry. */
export async function counterValue(metrics: Metrics, name: string, labels: Record<string, string>): Promise<number> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  const values = (metric?.values ?? []) as Array<{ value: number; labels: Record<string, string | number> }>;
  const match = values.find((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want));
  return match?.value ?? 0;
}
