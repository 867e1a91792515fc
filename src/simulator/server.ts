import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { ImsTokens, ProfileTokenState } from './auth.js';
import { BatchQueue, singleUpdateCreates } from './batches.js';
import { rawPath, type SimulatorContext } from './context.js';
import { FaultInjector } from './faults.js';
import { profileCallGuard } from './guards.js';
import {
  BULK_CALLS_PER_MINUTE,
  DEFAULT_BULK_ROW_LOSS,
  LIBRARY_BATCH_PROCESSING_MS,
  MAX_VALUE_LENGTH,
} from './limits.js';
import { RollingWindowLimit } from './rate-limit.js';
import { registerAdminRoutes } from './routes-admin.js';
import { registerBulkRoutes } from './routes-bulk.js';
import { registerControlRoutes } from './routes-control.js';
import { registerFetchRoutes } from './routes-fetch.js';
import { registerSingleRoutes } from './routes-single.js';
import { DEFAULT_IMS_CLIENT_ID, DEFAULT_IMS_CLIENT_SECRET, type SimulatorOptions } from './options.js';
import { SimulatorStats } from './stats.js';
import { ProfileStore } from './store.js';
import { errorXml, XML_CONTENT_TYPE } from './xml.js';

/** A running simulator. */
export interface Simulator {
  /** Base URL, e.g. `http://127.0.0.1:PORT` (use as TARGET_BASE_URL). */
  url: string;
  /** The profiles Target holds. */
  store: ProfileStore;
  /** Makes Target fail. */
  faults: FaultInjector;
  /** Calls per endpoint and per status. */
  stats: SimulatorStats;
  /** Accepted bulk batches (`pending`, `settle()` after moving the clock). */
  batches: BatchQueue;
  /** The profile authentication token: `current`, `regenerate()`, `expire()`, `set()`. */
  token: ProfileTokenState;
  /** Stops listening, drops open connections and cancels batches not yet applied. */
  close(): Promise<void>;
}

export type { SimulatorOptions, SingleUpdateCreates } from './options.js';

const MAX_REQUEST_HEAD_BYTES = 128 * 1024;

function loggerOptions(logger: boolean | object | undefined): Partial<FastifyServerOptions> {
  if (logger === undefined || typeof logger === 'boolean') return { logger: logger ?? false };
  // A pino instance has methods; a plain options object does not.
  if (typeof (logger as { info?: unknown }).info === 'function') {
    return { loggerInstance: logger as FastifyServerOptions['loggerInstance'] };
  }
  return { logger };
}

function buildApp(options: SimulatorOptions, ctx: SimulatorContext): FastifyInstance {
  const app = Fastify({
    ...loggerOptions(options.logger),
    // A 60 KB POST may carry everything in its query string; Node's default is 16 KB.
    http: { maxHeaderSize: MAX_REQUEST_HEAD_BYTES },
    // thirdPartyIds of 256 characters, percent-encoded, in the fetch path.
    routerOptions: { maxParamLength: 4096 },
    exposeHeadRoutes: false,
    forceCloseConnections: true,
  });
  // The simulator decodes forms itself (strictly); Fastify hands every body over raw.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));

  app.addHook('onResponse', (request, reply, done) => {
    ctx.stats.record({
      method: request.method,
      path: rawPath(request.raw.url),
      status: reply.statusCode,
      at: Date.now(),
      receivedAt: Math.round(Date.now() - reply.elapsedTime),
    });
    done();
  });
  app.setErrorHandler((error: { statusCode?: number; message?: string }, request, reply) => {
    const status = typeof error.statusCode === 'number' && error.statusCode >= 400 ? error.statusCode : 500;
    const message = error.message ?? 'internal error';
    if (request.url.startsWith('/rest/')) return reply.code(status).send({ message });
    return reply.code(status).type(XML_CONTENT_TYPE).send(errorXml(message));
  });
  app.setNotFoundHandler((request, reply) => {
    const message = `No such endpoint: ${request.method} ${rawPath(request.url)}`;
    if (request.url.startsWith('/rest/')) return reply.code(404).send({ message });
    return reply.code(404).type(XML_CONTENT_TYPE).send(errorXml(message));
  });

  registerFetchRoutes(app, ctx);
  registerControlRoutes(app, ctx);
  registerAdminRoutes(app, ctx);
  // Faults, client code and bearer checks guard the profile update calls only.
  void app.register((scope, _opts, done) => {
    scope.addHook('onRequest', profileCallGuard(ctx));
    registerSingleRoutes(scope, ctx);
    registerBulkRoutes(scope, ctx);
    done();
  });
  return app;
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

/** Starts a simulated Adobe Target on a real port; resolves once it listens. */
export async function startSimulator(options: SimulatorOptions): Promise<Simulator> {
  const host = options.host ?? '127.0.0.1';
  const now = options.now ?? Date.now;
  const store = new ProfileStore(undefined, {
    now,
    ...(options.profileLifetimeMs !== undefined ? { lifetimeMs: options.profileLifetimeMs } : {}),
  });
  const faults = new FaultInjector(options.latencyMs ?? 0, { now });
  const stats = new SimulatorStats();
  const maxValueLength = options.maxValueLength ?? MAX_VALUE_LENGTH;
  const bulkRowLoss = options.bulkRowLoss ?? DEFAULT_BULK_ROW_LOSS;
  if (!(bulkRowLoss >= 0 && bulkRowLoss <= 1)) throw new RangeError('bulkRowLoss must be between 0 and 1');
  const batches = new BatchQueue(store, {
    clientCode: options.clientCode,
    maxValueLength,
    now,
    v2Override: options.v2Override ?? true,
    listFailedRows: options.listFailedRows ?? true,
    updateOnlyCreates: (kind) => singleUpdateCreates(options.createOnSingleUpdate ?? true, kind),
    counters: stats,
    ...(options.statusRetentionMs !== undefined ? { retentionMs: options.statusRetentionMs } : {}),
  });
  store.setBeforeAccess(() => batches.settle());
  const token = new ProfileTokenState(
    {
      ...(options.authToken !== undefined ? { token: options.authToken } : {}),
      ...(options.tokenLifetimeMs !== undefined ? { lifetimeMs: options.tokenLifetimeMs } : {}),
    },
    now,
  );
  const perWindow = options.bulkCallsPerMinute ?? BULK_CALLS_PER_MINUTE;
  const windowMs = options.bulkRateWindowMs ?? 60_000;
  let url = '';
  const ctx: SimulatorContext = {
    settings: {
      clientCode: options.clientCode,
      authFailureStatus: options.authFailureStatus ?? 401,
      controlToken: options.controlToken,
      imsClientId: options.imsClientId ?? DEFAULT_IMS_CLIENT_ID,
      imsClientSecret: options.imsClientSecret ?? DEFAULT_IMS_CLIENT_SECRET,
      adminTenant: options.adminTenant ?? options.clientCode,
      createOnSingleUpdate: options.createOnSingleUpdate ?? true,
      maxValueLength,
      bulkCellDecoding: options.bulkCellDecoding ?? 'none',
      statusLink: options.statusLink ?? 'edge',
      batchTiming: {
        processingMs: options.batchProcessingMs ?? LIBRARY_BATCH_PROCESSING_MS,
        jitterMs: options.batchProcessingJitterMs ?? 0,
      },
      bulkRowLoss,
    },
    store,
    faults,
    stats,
    batches,
    sharedLimit: new RollingWindowLimit(
      perWindow,
      windowMs,
      now,
      () => faults.otherUsersLoad(),
      () => {
        stats.otherUsersCharged += 1;
      },
    ),
    token,
    ims: new ImsTokens(now),
    sharedLimitDescription: `${perWindow} calls per ${windowMs / 1000} s`,
    publicUrl: () => options.publicUrl ?? url,
    now,
    random: options.random ?? Math.random,
  };
  const app = buildApp(options, ctx);
  await app.listen({ host, port: options.port ?? 0 });
  const address = app.server.address() as AddressInfo;
  url = `http://${urlHost(host)}:${address.port}`;
  return {
    url,
    store,
    faults,
    stats,
    batches,
    token,
    async close() {
      batches.close();
      await app.close();
    },
  };
}
