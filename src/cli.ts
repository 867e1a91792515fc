#!/usr/bin/env node
import { Command } from 'commander';
import { registerDlqCommand } from './dlq/command.js';
import { registerForgetCommand } from './erasure/command.js';
import { registerImportCommand } from './intake/import/command.js';
import { registerTraceCommand } from './lineage/command.js';
import { registerSimulatorCommand } from './simulator/command.js';
import { registerVerifyCommand } from './target/verify-command.js';

const program = new Command('target-ingest').description('Offline customer actions into Adobe Target profiles');

registerSimulatorCommand(program);
registerVerifyCommand(program);
registerDlqCommand(program);
registerForgetCommand(program);
registerTraceCommand(program);
registerImportCommand(program);

await program.parseAsync(process.argv);
