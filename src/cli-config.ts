import { ConfigError, loadConfig, type Config } from './config.js';

/**
 * Config for a CLI command: the environment plus overrides. On a bad value it prints every
 * problem (never a secret), sets exit code 2 and returns undefined, so commands stay short.
 */
export function readCliConfig(overrides: Record<string, string | undefined> = {}): Config | undefined {
  try {
    return loadConfig({ ...process.env, ...overrides });
  } catch (error) {
    process.stderr.write(`target-ingest: ${error instanceof ConfigError ? error.message : String(error)}\n`);
    process.exitCode = 2;
    return undefined;
  }
}
