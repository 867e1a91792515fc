import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ingestJobWithout, stripIngestJobs } from '../../../src/erasure/ingest-jobs.js';
import type { IngestJob } from '../../../src/jobs/catalog.js';
import { toIngestRow } from '../../../src/jobs/ingest-rows.js';
import { openQueue, type PipelineQueues } from '../../../src/jobs/queues.js';
import { deletePrefix, newRedis, uniquePrefix } from '../../harness/context.js';

const FORGOTTEN = 'CRM-FORGET';
const HOUR = 3_600_000;

function event(visitor: Record<string, string>, n: number, id = `e-${n}`) {
  return {
    id,
    type: 'loyalty_card_used',
    occurredAt: '2026-11-21T10:00:00Z',
    visitor,
    data: { storeId: `S${n}`, cardNumber: '4111111111111111' },
  };
}
const forgotten = (n: number) => event({ mbox3rdPartyId: FORGOTTEN }, n, `forgotten-${n}`);
const kept = (n: number) => event({ mbox3rdPartyId: 'CRM-KEEP' }, n);
// The same id as a mboxPC is another visitor: it stays.
const samePcId = (n: number) => event({ mboxPC: FORGOTTEN }, n);
// An id that starts like the forgotten one's stays.
const longerId = (n: number) => event({ mbox3rdPartyId: `${FORGOTTEN}2` }, n);

function rowsJob(events: unknown[]): IngestJob {
  return { source: 'pos', receivedAt: 1_796_000_000_000, rows: events.map(toIngestRow), checkedEnvelope: 1 };
}

describe("a forgotten visitor's events in ingest jobs kept failed or retrying", () => {
  let redis: Redis;
  let prefix: string;
  let queue: PipelineQueues['ingest'];

  beforeEach(() => {
    redis = newRedis();
    prefix = uniquePrefix('ingest-forget');
    queue = openQueue('ingest', redis, { redisPrefix: prefix, keepCompleted: false });
  });
  afterEach(async () => {
    await queue.close();
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  /** Moves a delayed job to the failed set, as BullMQ keeps one that spent its attempts. */
  async function fail(id: string | undefined): Promise<void> {
    const { delayed, failed } = queue.keys;
    if (delayed === undefined || failed === undefined || id === undefined) throw new Error('BullMQ queue keys changed');
    await redis.zrem(delayed, id);
    await redis.zadd(failed, Date.now(), id);
  }

  it('are taken out of failed and delayed jobs past the first page, a job with nothing else removed, others untouched', async () => {
    // 250 failed jobs of others: the forgotten visitor's come on the second page.
    const others = await queue.addBulk(
      Array.from({ length: 250 }, (_, n) => ({ name: 'events', data: rowsJob([kept(n)]), opts: { delay: HOUR } })),
    );
    for (const job of others) await fail(job.id);
    const mixedRows = await queue.add('events', rowsJob([kept(1), forgotten(2), samePcId(3), longerId(4)]), {
      delay: HOUR,
    });
    await fail(mixedRows.id);
    const onlyIt = await queue.add('events', rowsJob([forgotten(5), forgotten(6)]), { delay: HOUR });
    await fail(onlyIt.id);
    // Retrying (delayed), in the events form of a replayed dead letter.
    const retrying = await queue.add(
      'events',
      { source: 'pos', receivedAt: 1, events: [forgotten(7), kept(8)] },
      { delay: HOUR },
    );
    // Waiting: merged within moments, where the merge drops the events of a forgotten visitor.
    const waiting = await queue.add('events', rowsJob([forgotten(9)]));

    expect(await stripIngestJobs(queue, redis, `3p:${FORGOTTEN}`)).toEqual({ removed: 1, edited: 2 });

    expect(await queue.getJob(String(onlyIt.id))).toBeUndefined();
    const mixed = await queue.getJob(String(mixedRows.id));
    expect(mixed?.data).toEqual(rowsJob([kept(1), samePcId(3), longerId(4)]));
    expect(await mixed?.getState()).toBe('failed');
    const stillRetrying = await queue.getJob(String(retrying.id));
    expect(stillRetrying?.data).toEqual({ source: 'pos', receivedAt: 1, events: [kept(8)] });
    expect(await stillRetrying?.getState()).toBe('delayed');
    expect((await queue.getJob(String(waiting.id)))?.data).toEqual(rowsJob([forgotten(9)]));
    expect(await queue.getFailedCount()).toBe(251);
    // Nothing of it is left in the failed or delayed jobs' stored data.
    const stored = await Promise.all(
      [...others, mixedRows, retrying].map((job) => redis.hget(queue.toKey(String(job.id)), 'data')),
    );
    expect(stored.filter((data) => data?.includes(`"${FORGOTTEN}"`) === true)).toHaveLength(1); // the mboxPC one
    expect(stored.join('')).not.toMatch(/forgotten-/);
  });

  it('keeps a malformed row as it was stored, and leaves a job without the visitor as it is', () => {
    const job: IngestJob = {
      source: 'pos',
      receivedAt: 1,
      rows: [['only', 'three', 'fields'], toIngestRow(forgotten(1))],
    };
    expect(ingestJobWithout(job, `3p:${FORGOTTEN}`)).toEqual({ ...job, rows: [['only', 'three', 'fields']] });
    expect(ingestJobWithout({ source: 'pos', receivedAt: 1, events: [forgotten(1)] }, `3p:${FORGOTTEN}`)).toBeNull();
    const other = { source: 'pos', receivedAt: 1, events: [kept(1)] };
    expect(ingestJobWithout(other, `3p:${FORGOTTEN}`)).toEqual(other);
  });
});
