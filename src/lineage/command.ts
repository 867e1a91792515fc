import type { Command } from 'commander';
import { withAdmin } from '../dlq/command.js';
import { parseVisitorArgument } from '../events/index.js';
import { openQueue } from '../jobs/queues.js';
import { deadLetterSearchNote } from './lineage.js';
import { readEventLineage, readVisitorLineage } from './reader.js';
import { eventText, visitorText } from './text.js';

/** `<source>:<id>`: the source is up to the first colon (event ids may hold colons). Pure. */
export function parseEventArgument(value: string): { source: string; id: string } {
  const colon = value.indexOf(':');
  if (colon <= 0 || colon === value.length - 1) throw new Error('--event: expected <source>:<event id>');
  return { source: value.slice(0, colon), id: value.slice(colon + 1) };
}

/**
 * `target-ingest trace <visitor>` and `trace --event <source>:<id>`: the CLI of
 * GET /admin/visitors/... and GET /admin/events/... (src/lineage/routes.ts). Exit 3 when
 * nothing is known, so a script can tell "unknown" from an error.
 */
export function registerTraceCommand(program: Command): void {
  program
    .command('trace')
    .argument('[visitor]', 'mboxPC:<id> or mbox3rdPartyId:<id>')
    .option('--event <source:id>', "an event's fate instead of a visitor's state")
    .option('--json', 'print JSON')
    .description(
      "where a visitor's updates or an event are: pending, in flight, delivered (and Target's answer), dead-lettered (uses REDIS_URL and REDIS_PREFIX)",
    )
    .action((visitorArg: string | undefined, opts: { event?: string; json?: boolean }) =>
      withAdmin(async (deadLetters, { redis, store, config, redaction }) => {
        if ((visitorArg === undefined) === (opts.event === undefined))
          throw new Error('trace: give a visitor (mboxPC:<id> or mbox3rdPartyId:<id>) or --event <source>:<id>');
        const settings = { redisPrefix: config.REDIS_PREFIX };
        const queues = {
          deliverSingle: openQueue('deliverSingle', redis, settings),
          deliverBulk: openQueue('deliverBulk', redis, settings),
          bulkStatus: openQueue('bulkStatus', redis, settings),
        };
        try {
          const deps = {
            redis,
            store,
            prefix: config.REDIS_PREFIX,
            queues,
            deadLetters,
            dedupeWindowMs: config.DEDUPE_WINDOW_MS,
          };
          const event = opts.event !== undefined ? parseEventArgument(opts.event) : undefined;
          const lookup =
            event !== undefined
              ? { view: await readEventLineage(deps, event.source, event.id) }
              : await readVisitorLineage(deps, parseVisitorArgument(visitorArg ?? ''));
          const { view } = lookup;
          if (view === undefined) {
            const searched = 'deadLettersSearched' in lookup ? lookup.deadLettersSearched : undefined;
            process.stderr.write(
              redaction.text(
                opts.event !== undefined
                  ? `target-ingest: no event ${opts.event} was taken in within the dedupe window\n`
                  : `target-ingest: nothing is known of ${visitorArg} (never seen, forgotten, or its log expired)${searched === undefined ? '' : `; ${deadLetterSearchNote(searched, visitorArg ?? '')}`}\n`,
              ),
            );
            process.exitCode = 3;
            return;
          }
          const safe = redaction.value(view) as typeof view;
          if (opts.json === true) process.stdout.write(`${JSON.stringify(safe, null, 2)}\n`);
          else process.stdout.write('source' in safe ? eventText(safe) : visitorText(safe));
        } finally {
          await Promise.all(Object.values(queues).map((q) => q.close()));
        }
      }),
    );
}
