import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Simulator } from '../../src/simulator/server.js';
import { freePort, spawnRedis, type SpawnedRedis } from '../harness/redis-server.js';
import { runBuilt, type RunningProcess } from '../harness/spawn-process.js';

/** What a fault test started, stopped after it in reverse order. */
export type Cleanups = Array<() => Promise<unknown>>;

/**
 * The built all-in-one process against `redisUrl` and the simulator, with short windows and
 * timeouts so a fault run takes seconds; `env` overrides. SIGKILLed at cleanup if still alive.
 */
export function allInOneProcess(
  cleanups: Cleanups,
  redisUrl: string,
  sim: Simulator,
  prefix: string,
  env: Record<string, string> = {},
): RunningProcess {
  const proc = runBuilt('workers/all-in-one.js', {
    REDIS_URL: redisUrl,
    REDIS_PREFIX: prefix,
    TARGET_CLIENT_CODE: 'acme',
    TARGET_BASE_URL: sim.url,
    PORT: '0',
    HOST: '127.0.0.1',
    COALESCE_WINDOW_MS: '100',
    FLUSH_INTERVAL_MS: '50',
    BULK_STATUS_POLL_MS: '100',
    RETRY_BASE_MS: '100',
    RETRY_MAX_MS: '500',
    TARGET_TIMEOUT_MS: '1000',
    CLAIM_LEASE_MS: '3000',
    WORKER_LOCK_MS: '2000',
    START_LOCAL_REDIS: 'false',
    LOG_LEVEL: 'info',
    ...env,
  });
  cleanups.push(async () => {
    proc.kill('SIGKILL');
    await proc.exited;
  });
  return proc;
}

/** A private append-only redis-server that can be SIGKILLed and started again on its port and data. */
export interface AofRedis {
  readonly url: string;
  /** SIGKILL, and wait until the process is gone. */
  kill(): Promise<void>;
  /** Start again on the same port from the same append-only file. */
  restart(): Promise<void>;
}

export async function aofRedis(cleanups: Cleanups, label: string): Promise<AofRedis> {
  const dir = mkdtempSync(join(tmpdir(), `ti-${label}-`));
  const port = await freePort();
  let server: SpawnedRedis = await spawnRedis({ port, dir, appendOnly: true });
  cleanups.push(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    url: server.url,
    async kill() {
      const exited = new Promise((r) => server.process.once('exit', r));
      server.process.kill('SIGKILL');
      await exited;
    },
    async restart() {
      server = await spawnRedis({ port, dir, appendOnly: true });
    },
  };
}
