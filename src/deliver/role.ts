import type { Dispatcher } from 'undici';
import type { VisitorStore } from '../coalesce/store.js';
import type { Config } from '../config.js';
import type { DeadLetters } from '../dlq/writer.js';
import { WORKERS, type BulkStatusJob, type DeliverJob, type LandingQueueJob } from '../jobs/catalog.js';
import type { PipelineQueues } from '../jobs/queues.js';
import type { WorkerPool } from '../jobs/workers.js';
import type { Logger } from '../logger.js';
import type { Budgets } from '../quota/budgets.js';
import type { RedisClient } from '../redis/connection.js';
import { hashTag } from '../redis/keys.js';
import { TargetClient, type TargetCallObserver } from '../target/client.js';
import { createTargetDispatcher } from '../target/dispatcher.js';
import { startProfileTokenSource } from '../target/profile-token.js';
import type { RefreshableTokenSource } from '../target/token-source.js';
import type { RetryPolicy } from './backoff.js';
import { createBulkStatusProcessor } from './bulk-status.js';
import { PostingMarks } from './posting-marks.js';
import { CredentialsHold, probeCredentials } from './credentials-hold.js';
import { createBulkDeliveryProcessor } from './deliver-bulk.js';
import { createSingleDeliveryProcessor } from './deliver-single.js';
import { FirstPollEstimate } from './first-poll.js';
import { createLandingAuditProcessor } from './landing-audit.js';
import { LandingAudits } from '../audit/landing-schedule.js';

/**
 * How long one process holds the right to regenerate the profile token
 * (TARGET_TOKEN_REGENERATE): the others read its new token meanwhile.
 */
export const REGENERATE_LOCK_MS = 10 * 60_000;

/** The connection pool to Target and the profile token, opened before any queue or worker. */
export interface TargetAccess {
  dispatcher: Dispatcher;
  tokenSource?: RefreshableTokenSource;
}

/**
 * Opens the connection pool and, where the token can change (TARGET_AUTH_TOKEN_FILE, or the
 * Admin API with TARGET_IMS_CLIENT_ID), reads the first token. First in a process' start,
 * so a token that cannot be had leaves nothing else to close. Admin API calls take from the
 * bulk budget (Adobe counts them against the same 50 a minute).
 */
export async function openTargetAccess(deps: {
  config: Config;
  redis: RedisClient;
  budgets: Budgets;
  logger: Logger;
  adobeUrls?: { ims: string; admin: string };
}): Promise<TargetAccess> {
  const { config, redis, logger } = deps;
  const dispatcher = createTargetDispatcher({
    connections: config.TARGET_CONNECTIONS,
    timeoutMs: config.TARGET_TIMEOUT_MS,
    logger,
  });
  const regenerateKey = `${hashTag(config.REDIS_PREFIX)}:admin-token:regenerate`;
  try {
    const tokenSource = await startProfileTokenSource(config, {
      logger,
      dispatcher,
      reserve: (n) => deps.budgets.bulk.reserve(n),
      claimRegenerate: async () =>
        (await redis.set(regenerateKey, String(process.pid), 'PX', REGENERATE_LOCK_MS, 'NX')) === 'OK',
      ...(deps.adobeUrls !== undefined ? { adobeUrls: deps.adobeUrls } : {}),
    });
    return { dispatcher, ...(tokenSource !== undefined ? { tokenSource } : {}) };
  } catch (error) {
    await dispatcher.close();
    throw error;
  }
}

export interface DeliverRoleDeps {
  config: Config;
  pool: WorkerPool;
  redis: RedisClient;
  store: VisitorStore;
  queues: PipelineQueues;
  budgets: Budgets;
  deadLetters: DeadLetters;
  retry: RetryPolicy;
  access: TargetAccess;
  /** Target base URL (config's, or the built-in simulator's). */
  targetBaseUrl: string;
  /** Told about every call to Target (metrics). */
  onTargetCall?: TargetCallObserver;
  logger: Logger;
}

/**
 * The deliver role: workers for deliver-single, deliver-bulk, bulk-status and landing-audit,
 * one Target client, and the credentials hold every delivery consults (docs/invariants.md,
 * P10). Deliveries Target accepted are sampled for the landing audit (src/audit/).
 * Returns what to close, in order, after the workers stopped.
 */
export function startDeliverRole(deps: DeliverRoleDeps): {
  closers: Array<(abandon: boolean) => Promise<void>>;
  /** Drops the calls to Target under way (shutdown hand-back, src/jobs/workers.ts). */
  abandonCalls: () => Promise<void>;
} {
  const { config, logger, access } = deps;
  const { tokenSource } = access;
  // Each closer is told whether the workers handed jobs back (their calls are then dropped).
  const closers: Array<(abandon: boolean) => Promise<void>> = [];
  const client = new TargetClient({
    baseUrl: deps.targetBaseUrl,
    clientCode: config.clientCode,
    ...(config.TARGET_AUTH_TOKEN !== undefined ? { authToken: config.TARGET_AUTH_TOKEN } : {}),
    ...(tokenSource !== undefined ? { token: tokenSource } : {}),
    dispatcher: access.dispatcher,
    timeoutMs: config.TARGET_TIMEOUT_MS,
    connections: config.TARGET_CONNECTIONS,
    ...(deps.onTargetCall !== undefined ? { onCall: deps.onTargetCall } : {}),
  });
  // The token source first: the Admin API shares the dispatcher the client closes.
  if (tokenSource !== undefined) closers.push(() => tokenSource.close());
  closers.push((abandon) => client.close(abandon));
  const hold = new CredentialsHold(deps.redis, config.REDIS_PREFIX, {
    probe: () => probeCredentials(client),
    // Re-read the token file (or ask the Admin API) before each probe round.
    ...(tokenSource !== undefined
      ? { refreshToken: () => tokenSource.refresh(), currentToken: () => tokenSource.current() }
      : {}),
    logger: logger.child({ role: 'credentials' }),
  });
  hold.start();
  closers.push(() => hold.close());
  const audits = new LandingAudits(
    deps.queues.landingAudit,
    {
      share: config.LANDING_AUDIT_SAMPLE,
      delayMs: config.LANDING_AUDIT_DELAY_MS,
      forgotten: (vks) => deps.store.suppressedAmong(vks),
    },
    logger.child({ role: 'landing-audit' }),
  );
  const shared = {
    store: deps.store,
    client,
    deadLetters: deps.deadLetters,
    budgets: deps.budgets,
    retry: deps.retry,
    queues: deps.queues,
    mode: config.DELIVERY_MODE,
    hold,
    statusQueue: deps.queues.bulkStatus,
    postingMarks: new PostingMarks(deps.redis, config.REDIS_PREFIX),
    firstPoll: new FirstPollEstimate(deps.redis, config.REDIS_PREFIX, {
      initialMs: config.BULK_STATUS_POLL_MS,
      minMs: Math.min(config.BULK_STATUS_MIN_POLL_MS, config.BULK_STATUS_POLL_MS),
      maxMs: Math.max(config.BULK_STATUS_POLL_MS, config.BULK_STATUS_FIRST_POLL_MAX_MS),
    }),
    pcIdRoute: config.BULK_PCID_ROUTE,
    audits,
  };
  const single = createSingleDeliveryProcessor({ ...shared, logger: logger.child({ role: 'deliver-single' }) });
  const bulk = createBulkDeliveryProcessor({ ...shared, logger: logger.child({ role: 'deliver-bulk' }) });
  const status = createBulkStatusProcessor(
    { ...shared, logger: logger.child({ role: 'bulk-status' }) },
    {
      pollBaseMs: config.BULK_STATUS_POLL_MS,
      maxPollDelayMs: config.BULK_STATUS_MAX_POLL_MS,
      maxResubmits: config.BULK_MAX_RESUBMITS,
      giveUpAfterMs: config.BULK_STATUS_GIVE_UP_MS,
    },
  );
  deps.pool.start<DeliverJob>('deliverSingle', single, config.WORKER_CONCURRENCY);
  deps.pool.start<DeliverJob>('deliverBulk', bulk, WORKERS.deliverBulkConcurrency);
  deps.pool.start<BulkStatusJob>('bulkStatus', status, WORKERS.bulkStatusConcurrency);
  // Started even with LANDING_AUDIT_SAMPLE=0, so checks scheduled before it was turned off still run.
  const audit = createLandingAuditProcessor({
    store: deps.store,
    client,
    hold,
    logger: logger.child({ role: 'landing-audit' }),
    maxResends: config.LANDING_AUDIT_MAX_RESENDS,
    queue: deps.queues.landingAudit,
    fanOut: { horizonMs: config.RETRY_MAX_MS },
  });
  deps.pool.start<LandingQueueJob>('landingAudit', audit, WORKERS.landingAuditConcurrency);
  return { closers, abandonCalls: () => client.abandon() };
}
