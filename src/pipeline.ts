import type { Worker } from 'bullmq';
import type { VisitorStore } from './coalesce/store.js';
import type { Config } from './config.js';
import type { HoldState } from './deliver/credentials-hold.js';
import type { DeadLetters } from './dlq/writer.js';
import type { CompiledMapping } from './events/index.js';
import type { PipelineQueues } from './jobs/queues.js';
import type { Logger } from './logger.js';
import type { Budgets } from './quota/budgets.js';
import type { RedisClient } from './redis/connection.js';
import type { TargetCallObserver } from './target/client.js';
import type { RefreshableTokenSource } from './target/token-source.js';

/**
 * What a running pipeline is, as the HTTP routes, metrics and tests see it. Built by
 * startPipeline (src/lifecycle/start-pipeline.ts) from the role modules: src/map/role.ts,
 * src/flush/role.ts and src/deliver/role.ts; intake is served over HTTP (src/intake/http.ts).
 */

/** The roles a process can run; `npm start` runs them all. `intake` serves POST /v1/events. */
export type Role = 'intake' | 'map' | 'flusher' | 'deliver';
export const ALL_ROLES: readonly Role[] = ['intake', 'map', 'flusher', 'deliver'];

export interface PipelineOptions {
  config: Config;
  mapping: CompiledMapping;
  logger: Logger;
  roles: readonly Role[];
  /** Target base URL; overrides config (the built-in simulator's URL). */
  targetBaseUrl: string;
  /** Told about every call to Target (metrics). */
  onTargetCall?: TargetCallObserver;
  /** IMS token endpoint and Admin API base URL instead of config's (the built-in simulator's). */
  adobeUrls?: { ims: string; admin: string };
}

/** A running set of roles on one Redis; `close()` finishes active jobs and disconnects. */
export interface Pipeline {
  redis: RedisClient;
  store: VisitorStore;
  queues: PipelineQueues;
  budgets: Budgets;
  /** Workers of this process by queue name; listen to their `completed`/`failed` events for metrics. */
  workers: ReadonlyMap<string, Worker>;
  deadLetters: DeadLetters;
  /** The console's flow counts (src/console/flow-counter.ts): intake adds what it received. */
  flow: { recordIntake(source: string, tally: { received: number; rejected: number; accepted: number }): void };
  /** The credentials hold, if one is open (Target refuses our token): for metrics and the console. */
  credentialsHold(): Promise<HoldState | undefined>;
  /** Dead letters removed by the retention trim, counted by all processes. */
  deadLettersTrimmed(): Promise<number>;
  /**
   * The profile token when it can change (TARGET_AUTH_TOKEN_FILE, or the Admin API with
   * TARGET_IMS_CLIENT_ID): `refresh()` reads it again now. Only with the deliver role.
   */
  tokenSource?: RefreshableTokenSource;
  close(): Promise<void>;
}
