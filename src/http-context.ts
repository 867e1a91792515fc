import type { Config } from './config.js';
import type { CompiledMapping } from './events/index.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics/metrics.js';
import type { Pipeline, Role } from './pipeline.js';
import type { RedactionPolicy } from './redact.js';
import type { RoutePlugin } from './http/server.js';

/** What route plugins may use: the process' config, pipeline handles and its state. */
export interface HttpContext {
  config: Config;
  logger: Logger;
  mapping: CompiledMapping;
  /**
   * The process' one redaction policy (src/redact.ts: secrets from `config`, private fields
   * from `mapping`), the same object its logger uses: every route that shows job data, dead
   * letters or events masks them with it.
   */
  redaction: RedactionPolicy;
  pipeline: Pipeline;
  metrics: Metrics;
  roles: readonly Role[];
  /** True once a shutdown began: readiness turns false, intake refuses new work. */
  isStopping: () => boolean;
}

/** A route plugin with its name (and whether it logs its own failed requests). */
export type NamedPlugin = RoutePlugin;
