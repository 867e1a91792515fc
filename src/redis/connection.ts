import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { redisSeeds } from '../config.js';
import type { Logger } from '../logger.js';

/** A connection to the pipeline's Redis: one node, or a Redis Cluster (REDIS_CLUSTER=true). */
export type RedisClient = Redis | Cluster;

/** Where the pipeline's Redis is: REDIS_URL (seeds, for a cluster) and REDIS_CLUSTER. */
export interface RedisTarget {
  REDIS_URL: string;
  REDIS_CLUSTER: boolean;
}

/**
 * Opens a connection with the options every long-lived connection of the pipeline uses
 * (BullMQ needs maxRetriesPerRequest null). A cluster client gets its seeds from REDIS_URL;
 * user name, password and TLS (`rediss://`) of the first seed apply to every node. While a
 * master is down its commands wait in the client (redirections and CLUSTERDOWN are retried),
 * so writes resume once it is back.
 */
export function connectRedis(target: RedisTarget | string, extra: RedisOptions = {}): RedisClient {
  const { REDIS_URL: url, REDIS_CLUSTER: cluster } =
    typeof target === 'string' ? { REDIS_URL: target, REDIS_CLUSTER: false } : target;
  const options: RedisOptions = { maxRetriesPerRequest: null, enableReadyCheck: true, ...extra };
  if (!cluster) return new Redis(url, options);
  const seeds = redisSeeds(url).map((seed) => new URL(seed));
  const first = seeds[0];
  if (first === undefined) throw new Error('REDIS_URL names no seed node');
  const tls = first.protocol === 'rediss:';
  const clusterOptions: ClusterOptions = {
    enableReadyCheck: true,
    enableOfflineQueue: options.enableOfflineQueue ?? true,
    maxRedirections: 64,
    retryDelayOnClusterDown: 300,
    retryDelayOnFailover: 200,
    retryDelayOnTryAgain: 200,
    // Managed clusters behind TLS announce names the certificate holds: resolve nothing.
    ...(tls
      ? { dnsLookup: (address: string, done: (error: null, address: string) => void) => done(null, address) }
      : {}),
    redisOptions: {
      ...options,
      ...(first.username !== '' ? { username: decodeURIComponent(first.username) } : {}),
      ...(first.password !== '' ? { password: decodeURIComponent(first.password) } : {}),
      ...(tls ? { tls: {} } : {}),
    },
  };
  return new Cluster(
    seeds.map((seed) => ({ host: seed.hostname, port: seed.port === '' ? 6379 : Number(seed.port) })),
    clusterOptions,
  );
}

/** The first seed of REDIS_URL: what probes and messages use. */
export function firstRedisUrl(url: string): string {
  return redisSeeds(url)[0] ?? url;
}

/** True when something answers PING at `url` within a short time. */
export async function redisAnswers(url: string, timeoutMs = 1500): Promise<boolean> {
  const probe = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: timeoutMs,
    retryStrategy: () => null,
  });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

/** Raised when no Redis answers and none can be started. */
export class RedisUnavailableError extends Error {
  readonly code = 'REDIS_UNAVAILABLE';
}

/**
 * Makes sure a Redis answers at `url`. When none does and `allowLocal` is set, starts a
 * private `redis-server` (append-only, noeviction) on the URL's port with its data under
 * `dataDir`, and returns a function that stops it.
 */
export async function ensureRedis(
  url: string,
  opts: { allowLocal: boolean; dataDir: string; logger: Logger },
): Promise<(() => Promise<void>) | undefined> {
  if (await redisAnswers(url)) return undefined;
  const parsed = new URL(url);
  const local = ['127.0.0.1', 'localhost', '::1', '[::1]'].includes(parsed.hostname);
  const hint =
    'install one (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) or point REDIS_URL at a running Redis 7';
  if (!opts.allowLocal || !local) throw new RedisUnavailableError(`no Redis answers at ${parsed.host}; ${hint}`);
  mkdirSync(opts.dataDir, { recursive: true });
  const port = parsed.port === '' ? '6379' : parsed.port;
  const child = spawn(
    'redis-server',
    [
      '--port',
      port,
      '--bind',
      '127.0.0.1',
      '--dir',
      opts.dataDir,
      '--appendonly',
      'yes',
      '--save',
      '',
      '--maxmemory-policy',
      'noeviction',
    ],
    { stdio: 'ignore' },
  );
  const failed = await new Promise<Error | undefined>((resolve) => {
    child.once('error', (error) => resolve(error));
    child.once('spawn', () => resolve(undefined));
  });
  if (failed !== undefined)
    throw new RedisUnavailableError(
      `no Redis answers at ${parsed.host} and redis-server could not be started (${failed.message}); ${hint}`,
    );
  for (let i = 0; i < 100 && !(await redisAnswers(url, 200)); i += 1) await new Promise((r) => setTimeout(r, 100));
  if (!(await redisAnswers(url))) {
    child.kill('SIGKILL');
    throw new RedisUnavailableError(`started redis-server on port ${port} but it does not answer; ${hint}`);
  }
  opts.logger.warn(
    { port, dataDir: opts.dataDir },
    'no Redis was running: started a private redis-server (append-only) for this process',
  );
  return async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
}

/** What `checkRedisSettings` found; each problem is a sentence an operator can act on. */
export interface RedisSettingsReport {
  maxmemoryPolicy?: string;
  appendonly?: string;
  problems: string[];
}

/**
 * Redis is the pipeline's source of truth: an eviction policy other than `noeviction` would
 * silently drop accepted events or visitor state under memory pressure, and without
 * append-only persistence a Redis restart loses what it held. Managed services may refuse
 * CONFIG GET; then the report says the settings could not be checked.
 */
export async function checkRedisSettings(redis: RedisClient): Promise<RedisSettingsReport> {
  const report: RedisSettingsReport = { problems: [] };
  try {
    const [, policy] = (await redis.config('GET', 'maxmemory-policy')) as [string, string];
    const [, aof] = (await redis.config('GET', 'appendonly')) as [string, string];
    report.maxmemoryPolicy = policy;
    report.appendonly = aof;
  } catch {
    report.problems.push(
      'could not read maxmemory-policy and appendonly (CONFIG GET refused): make sure they are noeviction and yes',
    );
    return report;
  }
  if (report.maxmemoryPolicy !== 'noeviction') {
    report.problems.push(
      `maxmemory-policy is ${report.maxmemoryPolicy ?? 'unknown'}: Redis may evict accepted events and visitor state under memory pressure; set maxmemory-policy noeviction`,
    );
  }
  if (report.appendonly !== 'yes') {
    report.problems.push('appendonly is off: a Redis restart loses every accepted event it held; set appendonly yes');
  }
  return report;
}

/** How long the same Redis error is logged at debug only, after it was logged at error. */
export const REPEATED_ERROR_QUIET_MS = 60_000;

/** Reports the errors of one Redis connection and of the BullMQ queues and workers on it. */
export interface RedisErrorLog {
  /** Logs `error` once; the same error object again (a queue repeating its connection's) is ignored. */
  report(error: unknown, message?: string): void;
}

/**
 * Sends every `error` of `client` through `logger` (which redacts: ioredis puts the AUTH
 * password in the `command` of its errors, and BullMQ or ioredis print errors that have no
 * listener to the console, unredacted). While Redis is away each reconnect fails again, so
 * an error is logged at error level once per {@link REPEATED_ERROR_QUIET_MS} (with how often
 * it repeated since) and at debug in between; the return of the connection is logged at info.
 * `connection` names the connection in each line (`pipeline`, `worker:<queue>`).
 */
export function logRedisErrors(client: RedisClient, logger: Logger, connection: string): RedisErrorLog {
  const reported = new WeakSet<object>();
  const lastLogged = new Map<string, { at: number; repeated: number }>();
  let failing = false;
  const report = (error: unknown, message = 'Redis connection error'): void => {
    if (typeof error === 'object' && error !== null) {
      if (reported.has(error)) return;
      reported.add(error);
    }
    failing = true;
    const key = `${message}|${errorKey(error)}`;
    const now = Date.now();
    const last = lastLogged.get(key);
    if (last !== undefined && now - last.at < REPEATED_ERROR_QUIET_MS) {
      last.repeated += 1;
      logger.debug({ err: error, connection }, message);
      return;
    }
    lastLogged.set(key, { at: now, repeated: 0 });
    logger.error(
      { err: error, connection, ...(last !== undefined ? { repeatedSinceLastLogged: last.repeated } : {}) },
      message,
    );
  };
  client.on('error', (error: unknown) => report(error));
  client.on('ready', () => {
    if (!failing) return;
    failing = false;
    lastLogged.clear();
    logger.info({ connection }, 'Redis connection is back');
  });
  return { report };
}

function errorKey(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const { code } = error as NodeJS.ErrnoException;
  return `${code ?? error.name}:${error.message}`;
}

/** Reads one numeric field of a Redis INFO section. */
export function infoField(info: string, field: string): number | undefined {
  const match = new RegExp(`^${field}:(\\d+)\\r?$`, 'm').exec(info);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}
