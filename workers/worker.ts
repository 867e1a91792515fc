import { runProcess } from '../src/lifecycle/process.js';

// The back half of the pipeline in one process: map, flusher and delivery, no intake.
// Run as many as needed on one Redis; producers write through the SDK or intake processes.
await runProcess({ roles: ['map', 'flusher', 'deliver'], allInOne: false });
