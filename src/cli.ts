#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { startSimulator } from './simulator/server.js';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port 0-65535');
  return n;
}

function nonNegative(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number of milliseconds, 0 or more');
  return n;
}

const program = new Command('target-ingest').description('Offline customer actions into Adobe Target profiles');

program
  .command('simulator')
  .description('run the Adobe Target simulator stand-alone (single and bulk profile updates, batch status, fetch)')
  .option('--port <port>', 'port to listen on', port, 8090)
  .option('--host <host>', 'address to bind', '127.0.0.1')
  .option('--client-code <code>', 'the Target client code it accepts', 'simulator')
  .option('--auth-token <token>', 'require this Bearer token on every profile call (or SIMULATOR_AUTH_TOKEN)')
  .option('--latency <ms>', 'added latency per request', nonNegative, 0)
  .action(async (opts: { port: number; host: string; clientCode: string; authToken?: string; latency: number }) => {
    const authToken = opts.authToken ?? process.env.SIMULATOR_AUTH_TOKEN;
    const simulator = await startSimulator({
      clientCode: opts.clientCode,
      host: opts.host,
      port: opts.port,
      latencyMs: opts.latency,
      ...(authToken !== undefined && authToken !== '' ? { authToken } : {}),
    });
    process.stdout.write(`Target simulator for client "${opts.clientCode}" listening at ${simulator.url}\n`);
    const stop = (): void => {
      void simulator.close().then(() => process.exit(0));
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });

await program.parseAsync(process.argv);
