import { execFileSync } from 'node:child_process';
import type { TestProject } from 'vitest/node';
import { spawnRedis } from './redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

function hasRedisBinary(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * One Redis for the whole run: `REDIS_URL` when set, else a private redis-server on a free
 * port, else a testcontainers Redis. Tests isolate themselves with per-test key prefixes.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const fromEnv = process.env.REDIS_URL;
  if (fromEnv !== undefined && fromEnv !== '') {
    project.provide('redisUrl', fromEnv);
    return () => Promise.resolve();
  }
  if (hasRedisBinary()) {
    const redis = await spawnRedis();
    project.provide('redisUrl', redis.url);
    return () => redis.stop();
  }
  const { RedisContainer } = await import('@testcontainers/redis');
  const container = await new RedisContainer('redis:7-alpine').start();
  project.provide('redisUrl', container.getConnectionUrl());
  return async () => {
    await container.stop();
  };
}
