import type { Command } from 'commander';
import { VisitorStore, storeSettingsFrom } from '../coalesce/store.js';
import { readCliConfig } from '../cli-config.js';
import type { Config } from '../config.js';
import { loadMappingFile, resolveMapping } from '../events/index.js';
import { createLogger, type Logger } from '../logger.js';
import type { Queue } from 'bullmq';
import { UNKNOWN_SOURCE, type IngestJob, type LandingQueueJob } from '../jobs/catalog.js';
import { openQueue, type PipelineQueues } from '../jobs/queues.js';
import { connectRedis, logRedisErrors } from '../redis/connection.js';
import { createRedactionPolicy, type RedactionPolicy } from '../redact.js';
import { DeadLetterAdmin, type DeadLetterView } from './admin.js';
import { CursorError } from './cursor.js';
import { FilterError, parseFilter } from './filters.js';

interface CommonOptions {
  stage?: string;
  code?: string;
  source?: string;
  since?: string;
  until?: string;
  json?: boolean;
  dryRun?: boolean;
  limit?: string;
  cursor?: string;
}

function line(entry: DeadLetterView): string {
  const count =
    (entry.events !== undefined ? `${entry.events.length} event(s)` : `${entry.visitors?.length ?? 0} visitor(s)`) +
    (entry.part !== undefined ? ` (part ${entry.part.n}/${entry.part.of})` : '');
  return [
    entry.id,
    new Date(entry.lastAttemptAt).toISOString(),
    entry.stage,
    entry.error.code,
    entry.source ?? UNKNOWN_SOURCE,
    count,
    entry.error.message.slice(0, 80),
  ].join('  ');
}

/** What a CLI command gets besides the dead-letter admin (the erasure command uses them). */
export interface AdminTools {
  redis: ReturnType<typeof connectRedis>;
  store: VisitorStore;
  /** The landing-audit queue: the erasure removes a forgotten visitor's checks from it. */
  landingAudit: Queue<LandingQueueJob>;
  /** The ingest queue: the erasure takes a forgotten visitor's events out of its failed jobs. */
  ingest: Queue<IngestJob>;
  /** The delivery queues: the erasure takes a forgotten visitor's key out of their failed jobs. */
  delivery: Pick<PipelineQueues, 'deliverSingle' | 'deliverBulk' | 'bulkStatus'>;
  config: Config;
  logger: Logger;
  redaction: RedactionPolicy;
}

/**
 * Opens the pipeline's dead-letter queue from the environment, runs `action`, closes
 * everything. Output goes through the same redaction policy as the pipeline's (secrets from
 * the environment, private fields from MAPPING_FILE): run the CLI with the pipeline's
 * MAPPING_FILE, or a mapping file's private fields are masked only if they are built in.
 */
export async function withAdmin(action: (admin: DeadLetterAdmin, tools: AdminTools) => Promise<void>): Promise<void> {
  const config = readCliConfig();
  if (config === undefined) return;
  let redaction: RedactionPolicy;
  try {
    const mapping = resolveMapping(
      config.MAPPING_FILE !== undefined ? loadMappingFile(config.MAPPING_FILE) : undefined,
    );
    redaction = createRedactionPolicy({ config, mapping });
  } catch (error) {
    process.stderr.write(`target-ingest: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 2;
    return;
  }
  const redis = connectRedis(config, { maxRetriesPerRequest: 3 });
  const store = new VisitorStore(redis, storeSettingsFrom(config));
  const logger = createLogger({
    level: config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL,
    pretty: false,
    destination: process.stderr,
    redaction,
  });
  // Through the redacting logger, never ioredis' or BullMQ's own print of the raw error.
  const redisErrors = logRedisErrors(redis, logger, 'dlq');
  const queueSettings = { redisPrefix: config.REDIS_PREFIX, keepCompleted: config.KEEP_COMPLETED_JOBS };
  const deadLetter = openQueue('deadLetter', redis, queueSettings, (error) => redisErrors.report(error));
  const ingest = openQueue('ingest', redis, queueSettings, (error) => redisErrors.report(error));
  const landingAudit = openQueue('landingAudit', redis, queueSettings, (error) => redisErrors.report(error));
  const delivery = {
    deliverSingle: openQueue('deliverSingle', redis, queueSettings, (error) => redisErrors.report(error)),
    deliverBulk: openQueue('deliverBulk', redis, queueSettings, (error) => redisErrors.report(error)),
    bulkStatus: openQueue('bulkStatus', redis, queueSettings, (error) => redisErrors.report(error)),
  };
  try {
    await action(new DeadLetterAdmin({ deadLetter, ingest }, store, logger), {
      redis,
      store,
      landingAudit,
      ingest,
      delivery,
      config,
      logger,
      redaction,
    });
  } catch (error) {
    process.stderr.write(
      `target-ingest: ${redaction.text(error instanceof FilterError ? `bad filter: ${error.message}` : error instanceof Error ? error.message : String(error))}\n`,
    );
    process.exitCode = error instanceof FilterError || error instanceof CursorError ? 2 : 1;
  } finally {
    // Each closes even if another fails, and the connection goes last.
    await Promise.allSettled([
      deadLetter.close(),
      ingest.close(),
      landingAudit.close(),
      ...Object.values(delivery).map((q) => q.close()),
    ]);
    await redis.quit();
  }
}

function withFilters(cmd: Command): Command {
  return cmd
    .option('--stage <stage>', 'intake, map, deliver-single, deliver-bulk or bulk-status')
    .option('--code <code>', 'error code, e.g. TARGET_HTTP_400 or EVENT_INVALID')
    .option(
      '--source <source>',
      `producer source: its entries, and deliveries whose values came (partly) from it; "${UNKNOWN_SOURCE}": entries without one producer`,
    )
    .option('--visitor <visitor>', 'mboxPC:<id> or mbox3rdPartyId:<id>: entries holding its values or events')
    .option('--since <time>', 'last attempt at or after (ISO-8601 or epoch ms)')
    .option('--until <time>', 'last attempt before (ISO-8601 or epoch ms)')
    .option('--json', 'print JSON');
}

/** `target-ingest dlq list | show <id> | replay | purge`, all with filters, --dry-run and --json. */
export function registerDlqCommand(program: Command): void {
  const dlq = program
    .command('dlq')
    .description('inspect, replay and purge dead letters (uses REDIS_URL and REDIS_PREFIX)');

  withFilters(dlq.command('list').description('list dead letters, newest first'))
    .option('--limit <n>', 'most entries to print', '100')
    .option('--cursor <next>', 'go on from the page that printed this "next" (same filters)')
    .action((opts: CommonOptions) =>
      withAdmin(async (admin, { redaction }) => {
        const page = await admin.list(parseFilter({ ...opts }), {
          limit: Number(opts.limit ?? 100) || 100,
          ...(opts.cursor !== undefined ? { cursor: opts.cursor } : {}),
        });
        if (opts.json === true) {
          process.stdout.write(`${JSON.stringify(redaction.value(page), null, 2)}\n`);
          return;
        }
        const { total, entries, next } = page;
        // A filtered page reads a bounded part of the queue (src/dlq/admin.ts), so its total
        // is known only on the page that reaches the oldest entry.
        process.stdout.write(
          total !== undefined
            ? `${total} dead letter(s)${total > entries.length ? `, showing ${entries.length}` : ''}\n`
            : `${entries.length} matching dead letter(s) in the ${page.scanned} read of ${page.queued}\n`,
        );
        for (const entry of entries) process.stdout.write(`${redaction.text(line(entry))}\n`);
        if (next !== undefined) process.stdout.write(`more: dlq list --cursor ${next} (with the same filters)\n`);
      }),
    );

  dlq
    .command('show <id>')
    .description('print one dead letter in full (JSON)')
    .action((id: string) =>
      withAdmin(async (admin, { redaction }) => {
        const entry = await admin.show(id);
        if (entry === undefined) {
          process.stderr.write(`no dead letter with id ${id}\n`);
          process.exitCode = 1;
          return;
        }
        // Dead letters keep raw events for replay; what is printed masks private fields, card numbers and secrets.
        process.stdout.write(`${JSON.stringify(redaction.value(entry), null, 2)}\n`);
      }),
    );

  for (const action of ['replay', 'purge'] as const) {
    withFilters(
      dlq
        .command(action)
        .description(
          action === 'replay'
            ? 'put matching dead letters back through the pipeline'
            : 'delete matching dead letters for good',
        ),
    )
      .option('--dry-run', 'only say what would be done')
      .action((opts: CommonOptions) =>
        withAdmin(async (admin) => {
          const filter = parseFilter({ ...opts });
          const result =
            action === 'replay'
              ? await admin.replay(filter, { dryRun: opts.dryRun === true })
              : await admin.purge(filter, { dryRun: opts.dryRun === true });
          if (opts.json === true)
            process.stdout.write(`${JSON.stringify({ action, dryRun: opts.dryRun === true, ...result }, null, 2)}\n`);
          else
            process.stdout.write(
              `${opts.dryRun === true ? `would ${action}` : action === 'replay' ? 'replayed' : 'purged'} ${opts.dryRun === true ? result.matched : result.done} of ${result.matched} matching dead letter(s)\n`,
            );
        }),
      );
  }
}
