import { loadConfig, type Config } from '../../src/config.js';
import { loadMappingFile, resolveMapping } from '../../src/events/index.js';
import { createLogger, type Logger } from '../../src/logger.js';
import { ALL_ROLES, type Pipeline, type Role } from '../../src/pipeline.js';
import { startPipeline } from '../../src/lifecycle/start-pipeline.js';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../src/simulator/server.js';
import { afterEach } from 'vitest';
import { deletePrefix, redisUrl, uniquePrefix } from './context.js';
import { NO_ROW_LOSS } from './no-row-loss.js';

export interface TestPipeline {
  config: Config;
  pipeline: Pipeline;
  simulator: Simulator;
  prefix: string;
  close(): Promise<void>;
}

/** A whole pipeline in this process against a fresh simulator, under a unique prefix. */
export async function startTestPipeline(
  env: Record<string, string> = {},
  roles: readonly Role[] = ALL_ROLES,
  simulatorOptions: Partial<SimulatorOptions> = {},
  /** Where the pipeline logs; default a logger at LOG_LEVEL (silent unless env says). */
  logger?: Logger,
): Promise<TestPipeline> {
  const simulator = await startSimulator({ ...NO_ROW_LOSS, clientCode: 'acme', ...simulatorOptions });
  // `$SIMULATOR` in a value stands for the simulator's URL (its IMS and Admin API stand-ins).
  env = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v.replaceAll('$SIMULATOR', simulator.url)]));
  const prefix = uniquePrefix('pipe');
  const config = loadConfig({
    REDIS_URL: redisUrl(),
    REDIS_PREFIX: prefix,
    TARGET_CLIENT_CODE: 'acme',
    TARGET_BASE_URL: simulator.url,
    COALESCE_WINDOW_MS: '200',
    COALESCE_MAX_WAIT_MS: '1000',
    FLUSH_INTERVAL_MS: '50',
    TARGET_TIMEOUT_MS: '2000',
    BULK_STATUS_POLL_MS: '100',
    RETRY_BASE_MS: '100',
    LOG_LEVEL: 'silent',
    ...env,
  });
  logger ??= createLogger({ level: config.LOG_LEVEL, pretty: false });
  // Salts of hashed attributes come from `env` (or this process's environment), as in a pipeline process.
  const mapping = resolveMapping(config.MAPPING_FILE !== undefined ? loadMappingFile(config.MAPPING_FILE) : undefined, {
    env: { ...process.env, ...env },
  });
  const pipeline = await startPipeline({ config, mapping, logger, roles, targetBaseUrl: simulator.url });
  return {
    config,
    pipeline,
    simulator,
    prefix,
    async close() {
      await pipeline.close();
      await simulator.close();
    },
  };
}

/**
 * For a describe block whose tests each start one pipeline: `start` runs startTestPipeline,
 * and after each test the pipeline's keys are deleted and it is closed.
 */
export function pipelinePerTest(): { start: typeof startTestPipeline } {
  let running: TestPipeline | undefined;
  afterEach(async () => {
    if (running === undefined) return;
    await deletePrefix(running.pipeline.redis, running.prefix);
    await running.close();
    running = undefined;
  });
  return {
    async start(...args) {
      running = await startTestPipeline(...args);
      return running;
    },
  };
}

/** Polls until `check` returns true or the deadline passes; returns the last result. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
  everyMs = 50,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return check();
}
