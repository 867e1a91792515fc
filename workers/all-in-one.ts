import { runProcess } from '../src/lifecycle/process.js';
import { ALL_ROLES } from '../src/pipeline.js';

// `npm start`: every role in one process (plus the simulator when no Target is configured).
await runProcess({ roles: ALL_ROLES, allInOne: true });
