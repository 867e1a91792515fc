/**
 * The baselines' worker process (run by the bench through tsx, never by hand):
 * - `naive`: the way this job is usually done: one BullMQ job per event, mapped with the
 *   project's own mapping, sent as one Single Profile Update call (undici, keep-alive pool
 *   as large as the concurrency, so connections never queue the calls);
 * - `noop`: BullMQ's ceiling: the same jobs, a processor that does nothing.
 * Env: REDIS_URL, BENCH_PREFIX, BENCH_QUEUE, BENCH_MODE, BENCH_CONCURRENCY, TARGET_URL, TARGET_CLIENT.
 */
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { Agent, request } from 'undici';
import { resolveMapping, validateEvent } from '../src/events/index.js';

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`baseline worker: ${name} is not set`);
  return value;
};

const mode = env('BENCH_MODE');
const concurrency = Number(env('BENCH_CONCURRENCY'));
const connection = new Redis(env('REDIS_URL'), { maxRetriesPerRequest: null });
const agent = new Agent({ connections: concurrency, keepAliveTimeout: 30_000 });
const mapping = resolveMapping();

async function sendOne(job: Job): Promise<void> {
  const checked = validateEvent(job.data, mapping, { now: Date.now() });
  if (!checked.ok) throw new UnrecoverableError(checked.errors.join('; '));
  const { visitor, attributes } = checked.event;
  const query = new URLSearchParams({ [visitor.kind === 'pcId' ? 'mboxPC' : 'mbox3rdPartyId']: visitor.id });
  for (const [name, value] of Object.entries(attributes)) query.append(`profile.${name}`, value);
  const url = `${env('TARGET_URL')}/m2/${env('TARGET_CLIENT')}/profile/update?${query.toString()}`;
  const response = await request(url, { dispatcher: agent });
  const body = await response.body.text();
  if (response.statusCode !== 200 || !body.includes('<success>true</success>')) {
    throw new Error(`Target answered ${response.statusCode}: ${body.slice(0, 200)}`);
  }
}

const worker = new Worker(env('BENCH_QUEUE'), mode === 'naive' ? sendOne : () => Promise.resolve(), {
  connection,
  prefix: env('BENCH_PREFIX'),
  concurrency,
});
worker.on('error', (error) => process.stderr.write(`worker error: ${error.message}\n`));
await worker.waitUntilReady();
process.stdout.write('ready\n');

const stop = async (): Promise<void> => {
  await worker.close();
  await connection.quit();
  await agent.close();
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
