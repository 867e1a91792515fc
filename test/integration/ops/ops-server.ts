import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { loadConfig, type Config } from '../../../src/config.js';
import { loadMappingFile, resolveMapping } from '../../../src/events/index.js';
import type { HttpContext } from '../../../src/http-context.js';
import { httpPluginsFor } from '../../../src/lifecycle/http-routes.js';
import { buildHttpServer, listen } from '../../../src/http/server.js';
import { createLogger, type Logger } from '../../../src/logger.js';
import { Metrics } from '../../../src/metrics/metrics.js';
import { createRedactionPolicy } from '../../../src/redact.js';
import type { Pipeline, Role } from '../../../src/pipeline.js';
import { startPipeline } from '../../../src/lifecycle/start-pipeline.js';
import { startSimulator, type Simulator } from '../../../src/simulator/server.js';
import { deletePrefix, newRedis, redisUrl, uniquePrefix } from '../../harness/context.js';
import { NO_ROW_LOSS } from '../../harness/no-row-loss.js';

/** Tokens the ops tests log in with (at least 16 characters, as config demands). */
export const ADMIN_TOKEN = 'admin-0f1e2d3c4b5a6978';
export const READONLY_TOKEN = 'viewer-8a7b6c5d4e3f2a1b';

/** Roles without `intake`: these tests cover the operational routes, not event intake. */
export const OPS_ROLES: readonly Role[] = ['map', 'flusher', 'deliver'];

/** A pipeline on real Redis, a Target simulator, and the process' HTTP server listening on 127.0.0.1. */
export interface OpsServer {
  config: Config;
  pipeline: Pipeline;
  simulator: Simulator;
  metrics: Metrics;
  app: FastifyInstance;
  url: string;
  prefix: string;
  /** Every log line written, as JSON text (the logger writes at `logLevel`). */
  logLines: string[];
  /**
   * With `rawLog`: the same log calls written by a pino logger without any redaction, so a
   * test can show that a secret did reach the logger (and was masked in `logLines`).
   */
  rawLogLines: string[];
  /** Flips what `ctx.isStopping()` answers. */
  setStopping(value: boolean): void;
  close(): Promise<void>;
}

export interface OpsServerOptions {
  env?: Record<string, string>;
  roles?: readonly Role[];
  logLevel?: string;
  /** Also record every log call unredacted in `rawLogLines`. */
  rawLog?: boolean;
  /** Where the pipeline sends Target calls instead of the simulator (a proxy in front of it, say). */
  targetBaseUrl?: string;
}

/** A stream that keeps each line pino writes. */
export function memoryDestination(lines: string[]): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(line);
      done();
    },
  });
}

/**
 * Starts what one target-ingest process runs, built the way src/lifecycle/process.ts builds it
 * (startPipeline, buildHttpServer, httpPluginsFor), with a logger that writes to memory.
 */
export async function startOpsServer(options: OpsServerOptions = {}): Promise<OpsServer> {
  const simulator = await startSimulator({ ...NO_ROW_LOSS, clientCode: 'acme' });
  const prefix = uniquePrefix('ops');
  const targetBaseUrl = options.targetBaseUrl ?? simulator.url;
  const env: Record<string, string> = {
    REDIS_URL: redisUrl(),
    REDIS_PREFIX: prefix,
    TARGET_CLIENT_CODE: 'acme',
    TARGET_BASE_URL: targetBaseUrl,
    COALESCE_WINDOW_MS: '100',
    COALESCE_MAX_WAIT_MS: '1000',
    FLUSH_INTERVAL_MS: '50',
    TARGET_TIMEOUT_MS: '2000',
    ADMIN_TOKEN,
    ADMIN_READONLY_TOKEN: READONLY_TOKEN,
    ...options.env,
  };
  const config = loadConfig(env);
  const logLines: string[] = [];
  const rawLogLines: string[] = [];
  const level = options.logLevel ?? 'warn';
  // As src/lifecycle/process.ts: the mapping comes from MAPPING_FILE when set.
  const mapping = resolveMapping(config.MAPPING_FILE !== undefined ? loadMappingFile(config.MAPPING_FILE) : undefined);
  // As src/lifecycle/process.ts: one policy, from the config and the mapping, for the logger
  // and the routes; the environment it reads secrets from is the one config came from.
  const redaction = createRedactionPolicy({ config, mapping, env });
  let logger: Logger = createLogger({ level, pretty: false, destination: memoryDestination(logLines), redaction });
  if (options.rawLog === true) logger = teeLogger(logger, pino({ level }, memoryDestination(rawLogLines)));
  const roles = options.roles ?? OPS_ROLES;
  const metrics = new Metrics({ defaultMetrics: false, mapping });
  // As src/lifecycle/process.ts: the Target client reports every call to the metrics.
  const pipeline = await startPipeline({
    config,
    mapping,
    logger,
    roles,
    targetBaseUrl,
    onTargetCall: (endpoint, ms, outcome) => metrics.recordTargetCall(endpoint, ms, outcome),
  });
  let stopping = false;
  const ctx: HttpContext = {
    config,
    logger,
    mapping,
    redaction,
    pipeline,
    metrics,
    roles,
    isStopping: () => stopping,
  };
  const app = await buildHttpServer({
    logger,
    bodyLimit: config.INTAKE_BODY_LIMIT_BYTES,
    plugins: httpPluginsFor(ctx),
  });
  const url = await listen(app, 0, '127.0.0.1');
  return {
    config,
    pipeline,
    simulator,
    metrics,
    app,
    url,
    prefix,
    logLines,
    rawLogLines,
    setStopping: (value) => {
      stopping = value;
    },
    async close() {
      await app.close();
      await pipeline.close();
      await simulator.close();
      const redis = newRedis(config.REDIS_URL);
      try {
        await deletePrefix(redis, prefix);
      } finally {
        await redis.quit();
      }
    },
  };
}

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace']);

/**
 * A logger that hands every call, with the same arguments, to `raw` first and then to
 * `logger`; child loggers (fastify's, each worker's) are teed the same way.
 */
export function teeLogger(logger: Logger, raw: Logger): Logger {
  return new Proxy(logger, {
    get(target, property, receiver) {
      if (property === 'child') {
        return (bindings: pino.Bindings, options?: pino.ChildLoggerOptions) =>
          teeLogger(target.child(bindings, options), raw.child(bindings, options));
      }
      if (typeof property === 'string' && LEVELS.has(property)) {
        return (...args: Parameters<pino.LogFn>) => {
          raw[property as pino.Level](...args);
          target[property as pino.Level](...args);
        };
      }
      return Reflect.get(target, property, receiver) as unknown;
    },
  });
}

/** `Authorization` header values for the test tokens. */
export function basic(token: string, user = 'operator'): string {
  return `Basic ${Buffer.from(`${user}:${token}`).toString('base64')}`;
}

export function bearer(token: string): string {
  return `Bearer ${token}`;
}
