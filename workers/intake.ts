import { runProcess } from '../src/lifecycle/process.js';

// HTTP intake only (POST /v1/events), so the front door scales apart from the workers.
await runProcess({ roles: ['intake'], allInOne: false });
