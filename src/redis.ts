import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from './logger.js';

/** Options every long-lived connection of the pipeline uses (BullMQ needs maxRetriesPerRequest null). */
export function connectRedis(url: string, extra: RedisOptions = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, ...extra });
}

/** True when something answers PING at `url` within a short time. */
export async function redisAnswers(url: string, timeoutMs = 1500): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: timeoutMs, retryStrategy: () => null });
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
export async function ensureRedis(url: string, opts: { allowLocal: boolean; dataDir: string; logger: Logger }): Promise<(() => Promise<void>) | undefined> {
  if (await redisAnswers(url)) return undefined;
  const parsed = new URL(url);
  const local = ['127.0.0.1', 'localhost', '::1', '[::1]'].includes(parsed.hostname);
  const hint = 'install one (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) or point REDIS_URL at a running Redis 7';
  if (!opts.allowLocal || !local) throw new RedisUnavailableError(`no Redis answers at ${parsed.host}; ${hint}`);
  mkdirSync(opts.dataDir, { recursive: true });
  const port = parsed.port === '' ? '6379' : parsed.port;
  const child = spawn('redis-server', [
    '--port', port, '--bind', '127.0.0.1', '--dir', opts.dataDir,
    '--appendonly', 'yes', '--save', '', '--maxmemory-policy', 'noeviction',
  ], { stdio: 'ignore' });
  const failed = await new Promise<Error | undefined>((resolve) => {
    child.once('error', (error) => resolve(error));
    child.once('spawn', () => resolve(undefined));
  });
  if (failed !== undefined) throw new RedisUnavailableError(`no Redis answers at ${parsed.host} and redis-server could not be started (${failed.message}); ${hint}`);
  for (let i = 0; i < 100 && !(await redisAnswers(url, 200)); i += 1) await new Promise((r) => setTimeout(r, 100));
  if (!(await redisAnswers(url))) {
    child.kill('SIGKILL');
    throw new RedisUnavailableError(`started redis-server on port ${port} but it does not answer; ${hint}`);
  }
  opts.logger.warn({ port, dataDir: opts.dataDir }, 'no Redis was running: started a private redis-server (append-only) for this process');
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
export async function checkRedisSettings(redis: Redis): Promise<RedisSettingsReport> {
  const report: RedisSettingsReport = { problems: [] };
  try {
    const [, policy] = (await redis.config('GET', 'maxmemory-policy')) as [string, string];
    const [, aof] = (await redis.config('GET', 'appendonly')) as [string, string];
    report.maxmemoryPolicy = policy;
    report.appendonly = aof;
  } catch {
    report.problems.push('could not read maxmemory-policy and appendonly (CONFIG GET refused): make sure they are noeviction and yes');
    return report;
  }
  if (report.maxmemoryPolicy !== 'noeviction') {
    report.problems.push(`maxmemory-policy is ${report.maxmemoryPolicy ?? 'unknown'}: Redis may evict accepted events and visitor state under memory pressure; set maxmemory-policy noeviction`);
  }
  if (report.appendonly !== 'yes') {
    report.problems.push('appendonly is off: a Redis restart loses every accepted event it held; set appendonly yes');
  }
  return report;
}
