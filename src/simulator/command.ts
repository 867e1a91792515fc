import { type Command, InvalidArgumentError } from 'commander';
import type { BulkCellDecoding } from './bulk-format.js';
import { applyFaults, parseFaultsJson } from './faults-schema.js';
import { BATCH_STATUS_RETENTION_MS, DEFAULT_BULK_ROW_LOSS, DEMO_BATCH_PROCESSING_MS } from './limits.js';
import { DEFAULT_IMS_CLIENT_ID } from './options.js';
import { DEFAULT_PROFILE_LIFETIME_MS } from './profile-lifetime.js';
import { startSimulator } from './server.js';
import { STATUS_LINK_STYLES, type StatusLinkStyle } from './status-links.js';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port 0-65535');
  return n;
}

function nonNegative(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number, 0 or more');
  return n;
}

function shareOf(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1)
    throw new InvalidArgumentError('expected a share from 0 to 1, e.g. 0.001');
  return n;
}

function singleCreates(value: string): 'all' | 'pcId' | 'none' {
  if (value === 'all' || value === 'pcId' || value === 'none') return value;
  throw new InvalidArgumentError('expected pcId, all or none');
}

function cellDecoding(value: string): BulkCellDecoding {
  if (value === 'none' || value === 'percent') return value;
  throw new InvalidArgumentError('expected none or percent');
}

function statusLink(value: string): StatusLinkStyle {
  const style = STATUS_LINK_STYLES.find((s) => s === value);
  if (style === undefined) throw new InvalidArgumentError(`expected one of ${STATUS_LINK_STYLES.join(', ')}`);
  return style;
}

function authStatus(value: string): 401 | 403 {
  if (value === '401') return 401;
  if (value === '403') return 403;
  throw new InvalidArgumentError('expected 401 or 403');
}

function faults(value: string) {
  try {
    return parseFaultsJson(value);
  } catch (error) {
    throw new InvalidArgumentError(error instanceof Error ? error.message : String(error));
  }
}

/** `target-ingest simulator`: the Target simulator as a stand-alone process. */
export function registerSimulatorCommand(program: Command): void {
  program
    .command('simulator')
    .description(
      'run the Adobe Target simulator stand-alone (single and bulk profile updates, batch status, fetch, /_simulator control routes)',
    )
    .option('--port <port>', 'port to listen on', port, 8090)
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--client-code <code>', 'the Target client code it accepts', 'simulator')
    .option('--auth-token <token>', 'require this Bearer token on every profile call (or SIMULATOR_AUTH_TOKEN)')
    .option(
      '--token-lifetime <ms>',
      'the profile token expires this long after it is issued (default: never)',
      nonNegative,
    )
    .option(
      '--auth-failure-status <status>',
      'answer a missing, wrong or expired token with 401 or 403',
      authStatus,
      401,
    )
    .option(
      '--control-token <token>',
      'require this Bearer token on /_simulator routes (or SIMULATOR_CONTROL_TOKEN; default: open)',
    )
    .option(
      '--ims-client-id <id>',
      'client id the simulated IMS accepts (also the Admin API x-api-key)',
      DEFAULT_IMS_CLIENT_ID,
    )
    .option('--ims-client-secret <secret>', 'client secret the simulated IMS accepts (or SIMULATOR_IMS_CLIENT_SECRET)')
    .option('--admin-tenant <tenant>', 'tenant of Admin API paths (default: the client code)')
    .option('--latency <ms>', 'added latency per request', nonNegative, 0)
    .option(
      '--batch-processing <ms>',
      'how long a bulk batch stays incomplete before its rows land (Target: minutes to hours)',
      nonNegative,
      DEMO_BATCH_PROCESSING_MS,
    )
    .option(
      '--batch-processing-jitter <ms>',
      'each batch takes up to this much longer, at random, so batches complete out of order',
      nonNegative,
      0,
    )
    .option(
      '--status-retention <ms>',
      'how long a batch status is answered after submit (not documented by Adobe)',
      nonNegative,
      BATCH_STATUS_RETENTION_MS,
    )
    .option('--bulk-calls-per-minute <n>', 'bulk calls admitted per minute before HTTP 503', nonNegative, 50)
    .option(
      '--single-creates <which>',
      'which unknown ids a single update creates: pcId (Target issued it, so it exists; an unknown mbox3rdPartyId is dropped with a success answer, as Target does), all, or none',
      singleCreates,
      'pcId',
    )
    .option(
      '--status-link <style>',
      'batchStatus link in submit answers: edge (documented http://mboxedge45.tt.omtrdc.net/...), edge-legacy (documented older .../v2/...&m2Node=00) or self (this simulator, followable as is)',
      statusLink,
      'edge',
    )
    .option(
      '--profile-lifetime <ms>',
      'profiles expire this long after their last activity (Target: 14 days by default, at most 90)',
      nonNegative,
      DEFAULT_PROFILE_LIFETIME_MS,
    )
    .option(
      '--bulk-cell-decoding <mode>',
      'none: Target decodes bulk files once, the documented form layer; percent: it also percent-decodes each cell (not documented)',
      cellDecoding,
      'none',
    )
    .option(
      '--bulk-row-loss <share>',
      'share of bulk rows accepted and reported successful but never stored (Adobe: up to 0.1% of large production batches may not be onboarded; 0 for none)',
      shareOf,
      DEFAULT_BULK_ROW_LOSS,
    )
    .option(
      '--no-v2-override',
      "turn off the v2 override (by default a v2 row removes what the previous v2 row for that visitor set and it does not carry: the strictest reading of Adobe's documentation)",
    )
    .option('--public-url <url>', 'base URL clients reach it at (for --status-link self), e.g. http://simulator:8090')
    .option(
      '--faults <json>',
      'faults to start with (or SIMULATOR_FAULTS), same JSON as POST /_simulator/faults, e.g. {"endpoints":{"bulk":{"outageWindows":[{"startInMs":10000,"durationMs":30000}]}}}; times count from start',
      faults,
    )
    .action(
      async (opts: {
        port: number;
        host: string;
        clientCode: string;
        authToken?: string;
        latency: number;
        batchProcessing: number;
        batchProcessingJitter: number;
        statusRetention: number;
        bulkCallsPerMinute: number;
        publicUrl?: string;
        statusLink: StatusLinkStyle;
        v2Override: boolean;
        bulkRowLoss: number;
        bulkCellDecoding: BulkCellDecoding;
        profileLifetime: number;
        faults?: ReturnType<typeof faults>;
        singleCreates: 'all' | 'pcId' | 'none';
        tokenLifetime?: number;
        authFailureStatus: 401 | 403;
        controlToken?: string;
        imsClientId: string;
        imsClientSecret?: string;
        adminTenant?: string;
      }) => {
        const authToken = opts.authToken ?? process.env.SIMULATOR_AUTH_TOKEN;
        const controlToken = opts.controlToken ?? process.env.SIMULATOR_CONTROL_TOKEN;
        const imsClientSecret = opts.imsClientSecret ?? process.env.SIMULATOR_IMS_CLIENT_SECRET;
        const initialFaults =
          opts.faults ??
          (process.env.SIMULATOR_FAULTS !== undefined && process.env.SIMULATOR_FAULTS !== ''
            ? faults(process.env.SIMULATOR_FAULTS)
            : undefined);
        const simulator = await startSimulator({
          clientCode: opts.clientCode,
          host: opts.host,
          port: opts.port,
          latencyMs: opts.latency,
          batchProcessingMs: opts.batchProcessing,
          batchProcessingJitterMs: opts.batchProcessingJitter,
          statusRetentionMs: opts.statusRetention,
          bulkCallsPerMinute: opts.bulkCallsPerMinute,
          createOnSingleUpdate: opts.singleCreates,
          statusLink: opts.statusLink,
          v2Override: opts.v2Override,
          bulkRowLoss: opts.bulkRowLoss,
          bulkCellDecoding: opts.bulkCellDecoding,
          profileLifetimeMs: opts.profileLifetime,
          ...(opts.publicUrl !== undefined ? { publicUrl: opts.publicUrl.replace(/\/+$/, '') } : {}),
          ...(authToken !== undefined && authToken !== '' ? { authToken } : {}),
          ...(opts.tokenLifetime !== undefined ? { tokenLifetimeMs: opts.tokenLifetime } : {}),
          authFailureStatus: opts.authFailureStatus,
          ...(controlToken !== undefined && controlToken !== '' ? { controlToken } : {}),
          imsClientId: opts.imsClientId,
          ...(imsClientSecret !== undefined && imsClientSecret !== '' ? { imsClientSecret } : {}),
          ...(opts.adminTenant !== undefined ? { adminTenant: opts.adminTenant } : {}),
        });
        if (initialFaults !== undefined) applyFaults(simulator, initialFaults);
        process.stdout.write(`Target simulator for client "${opts.clientCode}" listening at ${simulator.url}\n`);
        const stop = (): void => {
          void simulator.close().then(() => process.exit(0));
        };
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
      },
    );
}
