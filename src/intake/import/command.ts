import { access, constants } from 'node:fs/promises';
import { basename } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { ConfigError, loadConfigSubset } from '../../config.js';
import { loadMappingFile, resolveMapping } from '../../events/index.js';
import { createLogger } from '../../logger.js';
import { createRedactionPolicy } from '../../redact.js';
import { connectRedis, firstRedisUrl, logRedisErrors, redisAnswers } from '../../redis/connection.js';
import { openIntake } from '../intake-deps.js';
import { CheckpointStore } from './checkpoint.js';
import { parseColumnMap } from './csv-columns.js';
import { importFile, type ImportFormat } from './import-file.js';
import { progressView } from './progress.js';
import { ImportSetupError } from './records.js';
import { formatSummary, summaryJson } from './summary.js';

interface ImportCliOptions {
  source: string;
  format?: ImportFormat;
  map: string[];
  rejects?: string;
  batchSize: number;
  redisUrl?: string;
  prefix?: string;
  restart?: boolean;
  json?: boolean;
}

const SOURCE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * The variables the import reads, and so the only ones it validates: what a production
 * deployment needs for delivery or HTTP intake (TARGET_CLIENT_CODE, INGEST_API_KEYS) is no
 * reason to refuse a file.
 */
const IMPORT_VARIABLES = [
  'REDIS_URL',
  'REDIS_CLUSTER',
  'REDIS_SHARDS',
  'REDIS_PREFIX',
  'DEDUPE_WINDOW_MS',
  'MAX_VALUE_LENGTH',
  'MAPPING_FILE',
  'KEEP_COMPLETED_JOBS',
] as const;

/** Registers `target-ingest import <file>`. */
export function registerImportCommand(program: Command): void {
  program
    .command('import')
    .description('import an NDJSON or CSV file of events (end-of-day POS exports); resumable, with a rejects file')
    .argument(
      '<file>',
      'NDJSON (.ndjson, .jsonl) or CSV (.csv) file, columns named as the envelope: id,type,occurredAt,visitor.mbox3rdPartyId,data.storeId,…',
    )
    .option('--source <name>', 'source recorded on every event; ids are deduplicated per source', sourceName, 'import')
    .option('--format <format>', 'csv or ndjson (default: from the extension, else the content)', formatName)
    .option(
      '--map <old=new>',
      'rename a CSV column to an envelope path, e.g. --map store=data.storeId; old= ignores it (repeatable)',
      collect,
      [],
    )
    .option('--rejects <file>', 'where rejected lines go (default <file>.rejects.ndjson)')
    .option('--batch-size <n>', 'events per batch and checkpoint', positive, 500)
    .option('--redis-url <url>', "the pipeline's Redis (default REDIS_URL)")
    .option('--prefix <prefix>', "the pipeline's prefix (default REDIS_PREFIX)")
    .option(
      '--restart',
      'ignore the saved checkpoint and read from the first line (events taken before come back as duplicates)',
    )
    .option('--json', 'print the summary as one JSON line')
    .showHelpAfterError('(target-ingest import --help lists the options)')
    .configureOutput({ outputError: (text, write) => write(`target-ingest import: ${text.replace(/^error: /, '')}`) })
    // Bad options exit 2, as documented (commander's own code is 1); help stays 0.
    .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : 2))
    .action(async (file: string, opts: ImportCliOptions) => {
      process.exitCode = await runImport(file, opts);
    });
}

async function runImport(file: string, opts: ImportCliOptions): Promise<number> {
  const fail = (message: string, code = 1): number => {
    process.stderr.write(`target-ingest import: ${message}\n`);
    return code;
  };
  let config;
  let mapping;
  let columnMap;
  try {
    config = loadConfigSubset(
      {
        ...process.env,
        ...(opts.redisUrl !== undefined ? { REDIS_URL: opts.redisUrl } : {}),
        ...(opts.prefix !== undefined ? { REDIS_PREFIX: opts.prefix } : {}),
      },
      IMPORT_VARIABLES,
    );
    // Validation only: the import needs no salt of a hashed attribute (the map worker hashes).
    mapping = resolveMapping(config.MAPPING_FILE !== undefined ? loadMappingFile(config.MAPPING_FILE) : undefined, {
      validationOnly: true,
    });
    columnMap = parseColumnMap(opts.map);
  } catch (error) {
    if (error instanceof ConfigError || error instanceof ImportSetupError) return fail(error.message, 2);
    return fail(error instanceof Error ? error.message : String(error), 2);
  }
  try {
    await access(file, constants.R_OK);
  } catch {
    return fail(`cannot read ${file}`, 2);
  }
  // The host only: a Redis URL may carry a password.
  const host = new URL(firstRedisUrl(config.REDIS_URL)).host;
  if (!(await redisAnswers(firstRedisUrl(config.REDIS_URL))))
    return fail(`no Redis answers at ${host}; start it or pass --redis-url`);

  // Bounded retries: an outage mid-import stops it (resumable) instead of hanging silently.
  const redis = connectRedis(config, { maxRetriesPerRequest: 20 });
  // One policy for the log lines and the rejects file: secrets, the mapping's private fields.
  const redaction = createRedactionPolicy({ config, mapping });
  // Never ioredis' own "unhandled error" print: its error objects carry the AUTH arguments.
  logRedisErrors(
    redis,
    createLogger({ level: 'warn', pretty: false, destination: process.stderr, redaction }),
    'import',
  );
  const intake = openIntake(redis, {
    prefix: config.REDIS_PREFIX,
    dedupeWindowMs: config.DEDUPE_WINDOW_MS,
    mapping,
    maxValueLength: config.MAX_VALUE_LENGTH,
    shards: config.REDIS_SHARDS,
    keepCompletedJobs: config.KEEP_COMPLETED_JOBS,
  });
  const checkpoints = new CheckpointStore(redis, config.REDIS_PREFIX, config.DEDUPE_WINDOW_MS);
  const stop = new AbortController();
  const onSignal = (): void => {
    if (stop.signal.aborted) process.exit(130);
    process.stderr.write(
      '\nstopping after the current batch (press Ctrl-C again to quit at once; a rerun resumes from the last stored batch)\n',
    );
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const view = progressView(process.stderr);
  try {
    const summary = await importFile(
      {
        file,
        source: opts.source,
        batchSize: opts.batchSize,
        restart: opts.restart === true,
        columnMap,
        ...(opts.format !== undefined ? { format: opts.format } : {}),
        ...(opts.rejects !== undefined ? { rejectsPath: opts.rejects } : {}),
      },
      { intake: intake.deps, checkpoints, redaction },
      { signal: stop.signal, onProgress: (p) => view.update(p) },
    );
    view.stop();
    const peakRssBytes = process.resourceUsage().maxRSS * 1024;
    process.stdout.write(
      opts.json === true
        ? `${JSON.stringify(summaryJson(file, opts.source, summary, peakRssBytes))}\n`
        : formatSummary(basename(file), opts.source, summary, peakRssBytes),
    );
    return summary.status === 'interrupted' ? 130 : 0;
  } catch (error) {
    view.stop();
    if (error instanceof ImportSetupError) return fail(error.message, 2);
    const { code, message } = error as NodeJS.ErrnoException;
    return fail(
      `stopped: ${code !== undefined ? `${code} ` : ''}${message}; run the same command again to resume from the last stored batch`,
    );
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await intake.close();
    await redis.quit().catch(() => redis.disconnect());
  }
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 10_000)
    throw new InvalidArgumentError('expected a whole number from 1 to 10000');
  return n;
}

function sourceName(value: string): string {
  if (!SOURCE_NAME.test(value))
    throw new InvalidArgumentError('expected 1-64 characters of A-Z, a-z, 0-9, "_", "." and "-"');
  return value;
}

function formatName(value: string): ImportFormat {
  if (value !== 'csv' && value !== 'ndjson') throw new InvalidArgumentError('expected csv or ndjson');
  return value;
}
