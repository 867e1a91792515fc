import type { Command } from 'commander';
import { withAdmin } from '../dlq/command.js';
import { parseVisitorArgument } from '../events/index.js';
import { forgetVisitor } from './forget.js';

/**
 * `mboxPC:<id>` or `mbox3rdPartyId:<id>`, nothing else: a mistyped kind must not erase
 * nothing and exit 0 (verify's looser reading takes a bare id as a third-party id).
 */
export const parseForgetArgument = parseVisitorArgument;

/** `target-ingest forget <visitor>`: the CLI of POST /admin/visitors/…/forget (src/erasure/forget.ts). */
export function registerForgetCommand(program: Command): void {
  program
    .command('forget')
    .argument('<visitor>', 'mboxPC:<id> or mbox3rdPartyId:<id>')
    .description(
      "erase a visitor's pending, in-flight and delivered values and its dead letters, and drop its events for FORGET_SUPPRESS_MS (uses REDIS_URL and REDIS_PREFIX)",
    )
    .option('--suppress-for-ms <ms>', 'how long to drop its events (default FORGET_SUPPRESS_MS)')
    .action((visitorArg: string, opts: { suppressForMs?: string }) =>
      withAdmin(async (deadLetters, { redis, store, landingAudit, ingest, delivery, config, logger }) => {
        const suppressForMs = opts.suppressForMs === undefined ? config.FORGET_SUPPRESS_MS : Number(opts.suppressForMs);
        if (!Number.isInteger(suppressForMs) || suppressForMs <= 0) {
          throw new Error(`--suppress-for-ms: expected a whole number of milliseconds > 0, got ${opts.suppressForMs}`);
        }
        const result = await forgetVisitor(
          {
            store,
            deadLetters,
            landingAudits: { queue: landingAudit, redis },
            ingest,
            delivery,
            logger,
            suppressForMs,
          },
          parseForgetArgument(visitorArg),
        );
        process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      }),
    );
}
