import type { Command } from 'commander';
import { readCliConfig } from '../cli-config.js';
import type { VisitorRef } from '../events/index.js';
import { createLogger } from '../logger.js';
import { createRedactionPolicy } from '../redact.js';
import { TargetClient } from './client.js';
import { createTargetDispatcher } from './dispatcher.js';
import { createProfileTokenSource } from './token-source.js';

/** `mboxPC:<id>`, `mbox3rdPartyId:<id>` (or `pc:`/`3p:`), else a bare id taken as a third-party id. */
export function parseVisitorArgument(value: string): VisitorRef {
  const colon = value.indexOf(':');
  const kind = colon > 0 ? value.slice(0, colon) : '';
  const id = value.slice(colon + 1);
  if (kind === 'mboxPC' || kind === 'pc') return { kind: 'pcId', id };
  if (kind === 'mbox3rdPartyId' || kind === '3p' || kind === 'thirdPartyId') return { kind: 'thirdPartyId', id };
  return { kind: 'thirdPartyId', id: value };
}

/**
 * `target-ingest verify <visitor>`: reads the profile through the Fetch Profile API and prints
 * its attributes with their modification times, to check that an update landed. Uses the
 * same TARGET_* variables as the pipeline; without TARGET_CLIENT_CODE it asks the local
 * simulator (http://127.0.0.1:SIMULATOR_PORT).
 */
export function registerVerifyCommand(program: Command): void {
  program
    .command('verify <visitor>')
    .description("print a visitor's Target profile (Fetch Profile API): mboxPC:<id> or mbox3rdPartyId:<id>")
    .option('--json', 'print JSON')
    .action(async (visitorArg: string, opts: { json?: boolean }) => {
      const config = readCliConfig();
      if (config === undefined) return;
      const baseUrl = config.TARGET_BASE_URL ?? `http://127.0.0.1:${config.SIMULATOR_PORT}`;
      // The same egress proxy and token file as the pipeline (the Admin API source needs the
      // pipeline's Redis budget: with it, verify uses TARGET_AUTH_TOKEN or the file only).
      // The process' policy minus the mapping: verify shows no events.
      const logger = createLogger({ level: 'warn', pretty: false, redaction: createRedactionPolicy({ config }) });
      let tokenFile: ReturnType<typeof createProfileTokenSource> | undefined;
      try {
        tokenFile =
          config.TARGET_AUTH_TOKEN_FILE !== undefined
            ? createProfileTokenSource({ path: config.TARGET_AUTH_TOKEN_FILE, logger })
            : undefined;
      } catch (error) {
        process.stderr.write(`target-ingest: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exitCode = 1;
        return;
      }
      const client = new TargetClient({
        baseUrl,
        clientCode: config.clientCode,
        timeoutMs: config.TARGET_TIMEOUT_MS,
        dispatcher: createTargetDispatcher({ connections: 1, timeoutMs: config.TARGET_TIMEOUT_MS, logger }),
        ...(config.TARGET_AUTH_TOKEN !== undefined ? { authToken: config.TARGET_AUTH_TOKEN } : {}),
        ...(tokenFile !== undefined ? { token: tokenFile } : {}),
      });
      const visitor = parseVisitorArgument(visitorArg);
      try {
        const profile = await client.fetchProfile(visitor);
        if (profile === undefined) {
          process.stderr.write(
            `no profile for ${visitor.kind === 'pcId' ? 'mboxPC' : 'mbox3rdPartyId'} ${visitor.id} at ${baseUrl}\n`,
          );
          process.exitCode = 1;
          return;
        }
        if (opts.json === true) {
          process.stdout.write(`${JSON.stringify(profile, null, 2)}\n`);
          return;
        }
        const rows = Object.entries(profile).sort(([a], [b]) => a.localeCompare(b));
        const width = Math.max(9, ...rows.map(([name]) => name.length));
        process.stdout.write(`${'attribute'.padEnd(width)}  ${'modified'.padEnd(24)}  value\n`);
        for (const [name, attr] of rows)
          process.stdout.write(`${name.padEnd(width)}  ${(attr.modifiedAt ?? '').padEnd(24)}  ${attr.value}\n`);
      } catch (error) {
        process.stderr.write(
          `target-ingest: could not read the profile: ${error instanceof Error ? error.message : String(error)}\n`,
        );
        process.exitCode = 1;
      } finally {
        await tokenFile?.close();
        await client.close();
      }
    });
}
