/**
 * The producers, on a worker thread of the bench process. The simulator (Target) lives on
 * the main thread; producing 1,000,000 events (generating, validating, serialising) there
 * would stall its event loop for tens of milliseconds at a time and add that to every call
 * the pipeline makes. Each accepted batch goes back to the main thread's tracker as
 * (first seq, visitors, types, acceptance time).
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { createProducer } from '../src/intake/producer.js';
import { createHttpSender } from './http-sender.js';
import { produce, type ProduceResult } from './produce.js';
import type { EventBatch, WorkloadSpec } from './workloads.js';

/**
 * How batches are stored: the producer SDK (the pipeline), one BullMQ job per event
 * (baselines), or POSTed to an HTTP intake with a source's API key (`npm start`).
 */
export type Sender =
  | { kind: 'sdk'; prefix: string; source: string }
  | { kind: 'jobs'; prefix: string; queue: string }
  | { kind: 'http'; url: string; apiKey: string };

export interface ThreadOptions {
  redisUrl: string;
  sender: Sender;
  spec: WorkloadSpec;
  baseMs: number;
  batchSize: number;
  inFlight: number;
}

type Message =
  | { kind: 'ready' }
  | { kind: 'accepted'; first: number; visitors: Int32Array; types: Uint8Array; at: number }
  | { kind: 'done'; result: ProduceResult }
  | { kind: 'failed'; message: string };

// Naive users keep a few retries and drop finished jobs, as BullMQ's docs recommend.
const JOB_OPTIONS = { attempts: 3, removeOnComplete: true, removeOnFail: true };

/** A producer thread that has loaded its modules and connected, waiting for `run`. */
export interface ProducerThread {
  /** Starts producing with the pace counted from `t0` (epoch ms). */
  run(t0: number, onAccepted: (batch: EventBatch, at: number) => void): Promise<ProduceResult>;
}

/**
 * Main thread: starts the producer thread and resolves once it is ready, so thread start-up
 * (loading tsx and the SDK, connecting) is not counted as intake time.
 */
export function startProducerThread(options: ThreadOptions): Promise<ProducerThread> {
  // Loader hooks of `--import tsx` do not reach worker threads on Node 20: register tsx in
  // the thread first, then load this very file there.
  const boot = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(import.meta.url)}); })`;
  const worker = new Worker(boot, { eval: true, workerData: options });
  let onMessage: (message: Message) => void = () => undefined;
  let onFailure: (error: Error) => void = () => undefined;
  worker.on('message', (message: Message) => onMessage(message));
  worker.on('error', (error) => onFailure(error));
  worker.on('exit', (code) => onFailure(new Error(`producer thread exited with code ${code}`)));
  return new Promise((resolveReady, rejectReady) => {
    onFailure = rejectReady;
    onMessage = (message) => {
      if (message.kind !== 'ready') return;
      resolveReady({
        run: (t0, onAccepted) =>
          new Promise((resolve, reject) => {
            onFailure = reject;
            onMessage = (m) => {
              if (m.kind === 'accepted')
                onAccepted(
                  {
                    first: m.first,
                    events: new Array<unknown>(m.visitors.length),
                    visitors: m.visitors,
                    types: m.types,
                  },
                  m.at,
                );
              else if (m.kind === 'done') resolve(m.result);
              else if (m.kind === 'failed') reject(new Error(`producer thread: ${m.message}`));
            };
            worker.postMessage({ t0 });
          }),
      });
    };
  });
}

async function runThread(options: ThreadOptions): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error('producer thread without a parent port');
  const connection = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
  const { sender } = options;
  const producer =
    sender.kind === 'sdk'
      ? createProducer({ connection, prefix: sender.prefix, source: sender.source, keepCompletedJobs: false })
      : undefined;
  const queue =
    sender.kind === 'jobs'
      ? new Queue(sender.queue, { connection, prefix: sender.prefix, defaultJobOptions: JOB_OPTIONS })
      : undefined;
  const http = sender.kind === 'http' ? createHttpSender(sender.url, sender.apiKey, options.inFlight) : undefined;
  try {
    await connection.ping();
    const go = new Promise<number>((resolve) => port.once('message', (m: { t0: number }) => resolve(m.t0)));
    port.postMessage({ kind: 'ready' } satisfies Message);
    const t0 = await go;
    const result = await produce({
      spec: options.spec,
      baseMs: options.baseMs,
      batchSize: options.batchSize,
      inFlight: options.inFlight,
      t0,
      send: async (batch) => {
        if (producer !== undefined) return (await producer.sendMany(batch.events)).accepted;
        if (http !== undefined) return http.send(batch.events);
        const jobs = await queue?.addBulk(batch.events.map((data) => ({ name: 'event', data })));
        return jobs?.length ?? 0;
      },
      onAccepted: (batch, at) => {
        const message: Message = {
          kind: 'accepted',
          first: batch.first,
          visitors: batch.visitors,
          types: batch.types,
          at,
        };
        port.postMessage(message, [batch.visitors.buffer as ArrayBuffer, batch.types.buffer as ArrayBuffer]);
      },
    });
    port.postMessage({ kind: 'done', result } satisfies Message);
  } catch (error) {
    port.postMessage({
      kind: 'failed',
      message: error instanceof Error ? error.message : String(error),
    } satisfies Message);
  } finally {
    await producer?.close();
    await queue?.close();
    await http?.close();
    await connection.quit();
  }
}

if (!isMainThread && (workerData as { sender?: Sender } | null)?.sender !== undefined)
  await runThread(workerData as ThreadOptions);
