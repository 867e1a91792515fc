import type { Job } from 'bullmq';
import type { Pipeline } from '../../../src/pipeline.js';
import type { Simulator } from '../../../src/simulator/server.js';

/** The Target APIs, as the simulator's request log shows them (by path). */
export type Endpoint = 'single' | 'bulk' | 'status' | 'fetch';

function endpointOfPath(path: string): Endpoint | undefined {
  if (path.endsWith('/profile/batchUpdate')) return 'bulk';
  if (path.endsWith('/profile/batchStatus')) return 'status';
  if (path.startsWith('/rest/v1/profiles/')) return 'fetch';
  if (path.endsWith('/profile/update')) return 'single';
  return undefined;
}

/** Every request the simulator answered per endpoint, whatever the status (errors included). */
export function requestsByEndpoint(simulator: Simulator): Record<Endpoint, number> {
  const out: Record<Endpoint, number> = { single: 0, bulk: 0, status: 0, fetch: 0 };
  for (const request of simulator.stats.requests) {
    const endpoint = endpointOfPath(request.path);
    if (endpoint !== undefined) out[endpoint] += 1;
  }
  return out;
}

/** What one finished delivery job returned (its DeliverySummary, read loosely). */
export interface CompletedDelivery {
  queue: string;
  delivered: number;
}

/** Records every delivery job this pipeline's workers complete, straight from BullMQ. */
export function recordDeliveries(pipeline: Pipeline): CompletedDelivery[] {
  const completed: CompletedDelivery[] = [];
  for (const [queue, worker] of pipeline.workers) {
    if (!queue.startsWith('deliver-')) continue;
    worker.on('completed', (_job: Job, result: unknown) => {
      const delivered = (result as { delivered?: unknown } | undefined)?.delivered;
      completed.push({ queue, delivered: typeof delivered === 'number' ? delivered : 0 });
    });
  }
  return completed;
}
