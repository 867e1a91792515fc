import { runProcess } from '../src/lifecycle/process.js';

// One role per process, so roles scale separately on one shared Redis.
await runProcess({ roles: ['flusher'], allInOne: false });
