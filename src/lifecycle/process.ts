import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { loadMappingFile, resolveMapping, unsaltedHashes, type CompiledMapping } from '../events/index.js';
import { createLogger, type Logger } from '../logger.js';
import { createRedactionPolicy, type RedactionPolicy } from '../redact.js';
import type { Role } from '../pipeline.js';
import { startPipeline } from './start-pipeline.js';
import { boundHeapGrowth } from '../heap.js';
import { buildHttpServer, listen } from '../http/server.js';
import { httpPluginsFor } from './http-routes.js';
import { Metrics } from '../metrics/metrics.js';
import { checkRedisSettings, ensureRedis } from '../redis/connection.js';
import { Lifecycle } from './signals.js';
import { startSimulator } from '../simulator/server.js';
import { TokenSourceError } from '../target/token-source.js';

export interface ProcessOptions {
  roles: readonly Role[];
  /** The all-in-one process starts the simulator itself when no TARGET_CLIENT_CODE is set. */
  allInOne: boolean;
}

/** Stops the process with a message on stderr; config problems never include secret values. */
function fail(message: string): never {
  process.stderr.write(`target-ingest: ${message}\n`);
  process.exit(1);
}

function readConfig(): Config {
  try {
    return loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
}

/**
 * Runs one process of the pipeline: validates config, makes sure Redis answers, starts the
 * requested roles (and the simulator for a local all-in-one run), and shuts down cleanly on
 * SIGTERM/SIGINT (a second signal exits at once).
 */
export async function runProcess(options: ProcessOptions): Promise<void> {
  const config = readConfig();
  boundHeapGrowth(config.HEAP_GROWING_PERCENT);
  let mapping: CompiledMapping;
  try {
    mapping = resolveMapping(config.MAPPING_FILE !== undefined ? loadMappingFile(config.MAPPING_FILE) : undefined);
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  // One policy for every output: the logs, the dashboard, the dead-letter routes (HttpContext).
  const redaction = createRedactionPolicy({ config, mapping });
  const logger: Logger = createLogger({
    level: config.LOG_LEVEL,
    pretty: config.NODE_ENV !== 'production' && process.stdout.isTTY,
    redaction,
  });
  // First, so whoever starts it sees where intake listens when it has no keys.
  if (config.listenWarning !== undefined) logger.warn({ host: config.HOST }, config.listenWarning);
  for (const warning of config.warnings) logger.warn(warning);
  const unsalted = unsaltedHashes(mapping.spec);
  if (unsalted.length > 0)
    logger.warn(
      { attributes: unsalted },
      'hashed without a salt: the SHA-256 of an id alone can be found again by hashing candidates; add "salt": { "env": "<VARIABLE>" } (docs/producers.md#hashed-attributes)',
    );
  const lifecycle = new Lifecycle(logger, undefined, { shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS });
  lifecycle.installSignalHandlers();
  await lifecycle.trackStartup(startRoles(options, config, mapping, redaction, logger, lifecycle));
}

async function startRoles(
  options: ProcessOptions,
  config: Config,
  mapping: CompiledMapping,
  redaction: RedactionPolicy,
  logger: Logger,
  lifecycle: Lifecycle,
): Promise<void> {
  let targetBaseUrl = config.TARGET_BASE_URL;
  let adobeUrls: { ims: string; admin: string } | undefined;
  if (config.useSimulator && targetBaseUrl === undefined) {
    if (!options.allInOne && options.roles.includes('deliver')) {
      fail(
        'TARGET_CLIENT_CODE is not set: a stand-alone deliver worker needs it, or TARGET_BASE_URL pointing at a running simulator',
      );
    }
    if (options.allInOne) {
      // The first line says where deliveries go, so nobody mistakes a demo for production.
      logger.warn('TARGET_CLIENT_CODE is not set: delivering to the built-in Target simulator, not to Adobe Target');
      // Faithful on unknown ids: a single update does not create an mbox3rdPartyId profile.
      // Bulk batches stay incomplete for SIMULATOR_BATCH_PROCESSING_MS (30 s by default): real
      // batches take minutes to hours, and the demo must show a batch being processed.
      const simulator = await startSimulator({
        clientCode: config.clientCode,
        port: config.SIMULATOR_PORT,
        createOnSingleUpdate: 'pcId',
        batchProcessingMs: config.SIMULATOR_BATCH_PROCESSING_MS,
        // Like Target, a few bulk rows never land (SIMULATOR_BULK_ROW_LOSS, 0.1%): the landing audit finds them.
        bulkRowLoss: config.SIMULATOR_BULK_ROW_LOSS,
        ...simulatorCredentials(config),
      });
      lifecycle.add('simulator', () => simulator.close());
      targetBaseUrl = simulator.url;
      // With IMS credentials, the simulator stands in for Adobe IMS and the Admin API too.
      if (config.TARGET_IMS_CLIENT_ID !== undefined)
        adobeUrls = { ims: `${simulator.url}/ims/token/v3`, admin: simulator.url };
      logger.info({ url: simulator.url, clientCode: config.clientCode }, 'Target simulator listening');
    }
  }
  // A cluster is never started here: its seeds must be running (the client retries them).
  const stopRedis = config.REDIS_CLUSTER
    ? undefined
    : await ensureRedis(config.REDIS_URL, {
        allowLocal: config.START_LOCAL_REDIS && config.NODE_ENV !== 'production',
        dataDir: join(config.DATA_DIR, 'redis'),
        logger,
      }).catch((error: unknown) => fail(error instanceof Error ? error.message : String(error)));
  if (stopRedis !== undefined) lifecycle.add('private redis-server', stopRedis);
  if (lifecycle.isStopping) return;
  const metrics = new Metrics({ mapping });
  const pipeline = await startPipeline({
    config,
    mapping,
    logger,
    roles: options.roles,
    targetBaseUrl: targetBaseUrl ?? '',
    onTargetCall: (endpoint, ms, outcome) => metrics.recordTargetCall(endpoint, ms, outcome),
    ...(adobeUrls !== undefined ? { adobeUrls } : {}),
  }).catch(async (error: unknown) => {
    // No profile token to start with (no readable TARGET_AUTH_TOKEN_FILE, IMS credentials
    // Adobe refuses): a deployment mistake, said in one line without the secret.
    if (!(error instanceof TokenSourceError)) throw error;
    if (stopRedis !== undefined) await stopRedis();
    fail(error.message);
  });
  const settings = await checkRedisSettings(pipeline.redis);
  // Loud on purpose: these settings decide whether "accepted" can be trusted (P1, P7).
  for (const problem of settings.problems) logger.error({ check: 'redis-settings' }, `REDIS MISCONFIGURED: ${problem}`);
  lifecycle.add('pipeline', () => pipeline.close());
  const http = await buildHttpServer({
    logger,
    bodyLimit: config.INTAKE_BODY_LIMIT_BYTES,
    plugins: httpPluginsFor({
      config,
      logger,
      mapping,
      redaction,
      pipeline,
      metrics,
      roles: options.roles,
      isStopping: () => lifecycle.isStopping,
    }),
  });
  // Added last, closed first: stop taking requests before the workers wind down.
  lifecycle.add('http', () => http.close());
  const address = await listen(http, config.PORT, config.HOST);
  logger.info({ address, host: config.HOST }, 'HTTP listening');
  logger.info(
    { roles: options.roles, prefix: config.REDIS_PREFIX, deliveryMode: config.DELIVERY_MODE },
    'target-ingest running',
  );
}

/**
 * The built-in simulator's credentials (npm start): it requires the configured profile token
 * (TARGET_AUTH_TOKEN, or the one in TARGET_AUTH_TOKEN_FILE now), so regenerating it there
 * (`POST /_simulator/token`) and writing the new one into the file shows a rotation; with
 * TARGET_IMS_CLIENT_ID/SECRET it accepts those at its IMS and Admin API stand-ins and
 * requires a token of its own, which the pipeline reads from there.
 */
function simulatorCredentials(config: Config): {
  authToken?: string;
  imsClientId?: string;
  imsClientSecret?: string;
  adminTenant?: string;
} {
  if (config.TARGET_IMS_CLIENT_ID !== undefined && config.TARGET_IMS_CLIENT_SECRET !== undefined) {
    return {
      authToken: randomBytes(24).toString('base64url'),
      imsClientId: config.TARGET_IMS_CLIENT_ID,
      imsClientSecret: config.TARGET_IMS_CLIENT_SECRET,
      adminTenant: config.TARGET_ADMIN_TENANT,
    };
  }
  if (config.TARGET_AUTH_TOKEN !== undefined) return { authToken: config.TARGET_AUTH_TOKEN };
  if (config.TARGET_AUTH_TOKEN_FILE === undefined) return {};
  let token = '';
  try {
    token = readFileSync(config.TARGET_AUTH_TOKEN_FILE, 'utf8').trim();
  } catch {
    // The pipeline's token source reports the unreadable file and stops the start.
  }
  return token === '' ? {} : { authToken: token };
}
