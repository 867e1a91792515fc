/**
 * Feeds a workload to a sender: batches released on the workload's pace, at most
 * `inFlight` sends at once (producers of a real fleet do not wait for each other), each
 * batch reported as accepted when its promise resolves, i.e. when Redis holds it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { generateBatches, releaseAtSeconds, type EventBatch, type WorkloadSpec } from './workloads.js';

export interface ProduceOptions {
  spec: WorkloadSpec;
  baseMs: number;
  batchSize: number;
  inFlight: number;
  /** Epoch ms the pace counts from. */
  t0: number;
  /** Resolves once the batch is durably accepted; returns how many events were accepted. */
  send: (batch: EventBatch) => Promise<number>;
  onAccepted: (batch: EventBatch, now: number) => void;
}

export interface ProduceResult {
  sent: number;
  accepted: number;
  /** Epoch ms the last batch was accepted. */
  lastAcceptedAt: number;
}

export async function produce(options: ProduceOptions): Promise<ProduceResult> {
  const running = new Set<Promise<void>>();
  let sent = 0;
  let accepted = 0;
  let lastAcceptedAt = options.t0;
  let failure: unknown;
  for (const batch of generateBatches(options.spec, options.baseMs, options.batchSize)) {
    if (failure !== undefined) break;
    const due = options.t0 + releaseAtSeconds(options.spec.pace, batch.first) * 1000;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
    while (running.size >= options.inFlight) await Promise.race(running);
    sent += batch.events.length;
    const task = options.send(batch).then(
      (n) => {
        const now = Date.now();
        accepted += n;
        lastAcceptedAt = Math.max(lastAcceptedAt, now);
        if (n === batch.events.length) options.onAccepted(batch, now);
        else failure = new Error(`producer accepted ${n} of ${batch.events.length} events of batch ${batch.first}`);
      },
      (error: unknown) => {
        failure = error;
      },
    );
    const tracked = task.finally(() => running.delete(tracked));
    running.add(tracked);
  }
  await Promise.all(running);
  if (failure !== undefined)
    throw failure instanceof Error ? failure : new Error('producer failed', { cause: failure });
  return { sent, accepted, lastAcceptedAt };
}
