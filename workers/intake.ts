import { runProcess } from '../src/process.js';

// HTTP intake only (POST /v1/events), so the front door scales apart from the workers.
await runProcess({ roles: ['intake'], allInOne: false });
